"""score_curation: recall per injected kind, precision per filter, false rejects."""

from __future__ import annotations

from vit.curate.groundtruth import score_curation
from vit.records import reject, write_jsonl


def defect(kind: str, rid: str, caught_by: str) -> dict:
    return {"kind": kind, "id": rid, "file": None, "of": None, "detail": "", "caught_by": caught_by}


DEFECTS = [
    defect("truncated", "d1", "ingest"),
    defect("truncated", "d2", "ingest"),
    defect("malformed_json", "d3", "ingest"),
    defect("malformed_json", "d4", "ingest"),
    defect("blank", "d5", "curate"),
    defect("tiny", "d6", "curate"),
    defect("exact_duplicate", "d7", "dedup"),
]


def score(tmp_path, ingest_rows, curate_rows, kept):
    write_jsonl(tmp_path / "defects.jsonl", DEFECTS)
    return score_curation(tmp_path / "defects.jsonl", ingest_rows, curate_rows, kept)


def ingest_row(rid, code):
    return reject(rid, "validate", "x", codes=[code], record={})


def unparsable(line):
    return reject(None, "read", "malformed JSON: ...", file="scenes.jsonl", line=line)


def curate_row(rid, name, reason, value):
    return reject(rid, "curate", reason, filter=name, value=value, record={})


def test_perfect_run(tmp_path):
    s = score(
        tmp_path,
        [ingest_row("d1", "image_corrupt"), ingest_row("d2", "image_corrupt"), unparsable(4)]
        + [unparsable(9)],
        [curate_row("d5", "uniform", "uniform", 0.0), curate_row("d6", "size", "too_small", 9)],
        ["c1", "c2", "d7"],
    )
    assert set(s["kinds"]) == {"truncated", "malformed_json", "blank", "tiny"}  # no dedup kinds
    for k in s["kinds"].values():
        assert k["recall"] == 1.0 and k["missed"] == []
    assert s["kinds"]["blank"]["caught_by_stage"] == {"curate": 1}
    assert s["kinds"]["malformed_json"] == {
        "expected_stage": "ingest",
        "injected": 2,
        "caught": 2,
        "recall": 1.0,
        "caught_by_stage": {"ingest": 2},
        "missed": [],
        "missed_but_kept": 0,
    }
    assert s["recall"] == {"all": 1.0, "curate": 1.0, "ingest": 1.0}
    assert s["precision"] == 1.0 and s["false_rejects"]["total"] == 0
    assert s["precision_by_filter"]["ingest:unparsable"]["rejected"] == 2
    assert s["clean_kept"] == 2 and s["kept"] == 3


def test_misses_false_rejects_and_precision(tmp_path):
    s = score(
        tmp_path,
        [ingest_row("d1", "image_corrupt"), unparsable(4), unparsable(5), unparsable(6)],
        [
            curate_row("d6", "size", "too_small", 9),
            curate_row("c1", "blur", "blurry", 3.2),  # a clean scene: a false reject
            curate_row("d7", "blur", "blurry", 4.0),  # a duplicate is a good image too
        ],
        ["d2", "d5", "c2"],
    )
    assert s["kinds"]["truncated"]["recall"] == 0.5
    assert s["kinds"]["truncated"]["missed"] == ["d2"]
    assert s["kinds"]["truncated"]["missed_but_kept"] == 1
    assert s["kinds"]["blank"]["recall"] == 0.0
    assert s["kinds"]["malformed_json"]["caught"] == 2  # 3 unparsable lines, 2 injected
    fr = s["false_rejects"]
    assert (fr["total"], fr["clean"], fr["dedup_kinds"], fr["unparsable_beyond_injected"]) == (
        3,
        1,
        1,
        1,
    )
    assert fr["by_filter"] == {"curate:blur": 2, "ingest:unparsable": 1}
    assert s["precision_by_filter"]["curate:blur"] == {
        "rejected": 2,
        "correct": 0,
        "precision": 0.0,
    }
    assert s["precision_by_filter"]["curate:size"]["precision"] == 1.0
    assert s["recall"]["curate"] == 0.5
