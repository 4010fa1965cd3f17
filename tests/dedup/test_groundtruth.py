"""score_dedup: recall per injected kind and transform, precision per method."""

from __future__ import annotations

from vit.dedup.groundtruth import score_dedup
from vit.records import write_jsonl


def _defect(kind, rid, of, detail):
    return {"kind": kind, "id": rid, "of": of, "detail": detail, "file": None, "caught_by": "dedup"}


def test_scores_against_injected_duplicates(tmp_path):
    path = tmp_path / "defects.jsonl"
    write_jsonl(
        path,
        [
            _defect("exact_duplicate", "e1", "o1", "byte-identical copy"),
            _defect("near_duplicate", "n1", "o2", "jpeg: q 35"),
            _defect("near_duplicate", "n2", "o3", "rotate: 4 degrees"),
            _defect("near_duplicate", "n3", "o4", "crop: l=1"),  # rejected by curate
            _defect("blank", "b1", None, "uniform"),
        ],
    )
    rows = [
        {"id": "e1", "duplicate_of": "o1", "kind": "exact"},
        {"id": "o2", "duplicate_of": "n1", "kind": "near"},  # the keep policy kept the copy
        {"id": "c9", "duplicate_of": "c8", "kind": "semantic"},  # clean look-alikes
        {"id": "r1", "duplicate_of": None, "kind": "review"},
    ]
    kept = ["o1", "n1", "n2", "o3", "o4", "c8"]
    s = score_dedup(path, rows, kept)
    assert s["exact_duplicate"] == {"injected": 1, "reached": 1, "removed": 1, "recall": 1.0}
    near = s["near_duplicate"]
    assert (near["injected"], near["reached"], near["removed"], near["recall"]) == (3, 2, 1, 0.5)
    assert near["by_transform"]["rotate"]["recall"] == 0.0
    assert s["methods"]["exact"]["precision"] == 1.0
    assert s["methods"]["near"]["precision"] == 1.0
    assert s["methods"]["semantic"] == {
        "removed": 1,
        "true": 0,
        "clean_removed": 1,
        "precision": 0.0,
    }
    assert "review" not in s["methods"] and s["exact_near_precision"] == 1.0
