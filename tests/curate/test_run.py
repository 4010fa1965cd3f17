"""curate() end to end on generated scenes: ground truth, reject rows, resume, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from vit.curate.filters import CurateConfig
from vit.curate.groundtruth import score_curation
from vit.curate.run import curate, curate_params, curate_step
from vit.ingest import ingest
from vit.overrides import load_overrides, normalize_overrides
from vit.records import Dataset, Record, write_dataset
from vit.shards import fingerprint, pending, plan, run_job
from vit.sources.defects import truncate_png
from vit.sources.scenes import encode_png, generate_scenes, make_scene

SHARD = 40  # several shards from ~165 records, so resume has something to skip


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """150 clean 96 px scenes + injected defects, ingested (the contract already applied)."""
    base = tmp_path_factory.mktemp("scenes")
    generate_scenes(base / "raw", n=150, seed=3, size=96, defect_rate=0.1)
    ingest("vitflow", base / "raw" / "scenes.jsonl", base / "ingested", shard_size=SHARD)
    return base


@pytest.fixture(scope="module")
def curated(scenes) -> tuple[Path, dict]:
    out = scenes / "curated"
    return out, curate(scenes / "ingested", out, progress=False)


def defects(scenes: Path) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for line in (scenes / "raw" / "defects.jsonl").read_text().splitlines():
        d = json.loads(line)
        kinds.setdefault(d["kind"], []).append(d["id"])
    return kinds


def test_blank_and_tiny_all_caught_and_no_clean_scene_lost(scenes, curated):
    out, summary = curated
    ds = Dataset.open(out)
    kinds = defects(scenes)
    rejected = {r["id"]: r for r in ds.rejects()}
    for kind in ("blank", "tiny"):
        assert kinds[kind] and all(i in rejected for i in kinds[kind]), kind
    assert {rejected[i]["filter"] for i in kinds["blank"]} == {"uniform"}
    assert {rejected[i]["filter"] for i in kinds["tiny"]} == {"size"}
    # nothing else is rejected: every clean scene and every duplicate survives curation
    assert set(rejected) == set(kinds["blank"]) | set(kinds["tiny"])
    assert summary["kept"] + summary["rejected"] == Dataset.open(scenes / "ingested").count
    scores = score_curation(
        scenes / "raw" / "defects.jsonl",
        Dataset.open(scenes / "ingested").rejects(),
        ds.rejects(),
        [r.id for r in ds],
    )
    assert scores["kinds"]["blank"]["recall"] == scores["kinds"]["tiny"]["recall"] == 1.0
    assert scores["recall"]["all"] == 1.0 and scores["false_rejects"]["total"] == 0
    assert scores["clean_kept"] == 150


def test_every_reject_row_says_why(curated):
    out, summary = curated
    rows = Dataset.open(out).rejects()
    assert rows and summary["rejected"] == len(rows)
    for r in rows:
        assert r["stage"] == "curate" and r["id"] and r["filter"] and r["reason"]
        assert "value" in r and r["value"] is not None
        assert Record.from_dict(r["record"]).id == r["id"]  # re-ingestable as is
    assert sum(summary["rejected_by_filter"].values()) == len(rows)


def test_kept_records_carry_quality_hashes_and_flags(curated):
    out, summary = curated
    recs = list(Dataset.open(out))
    for rec in recs:
        assert {"blur", "brightness", "color_std", "entropy"} <= set(rec.metadata["quality"])
        assert set(rec.metadata["hashes"]) == {"pixel", "phash", "dhash"}
        assert isinstance(rec.metadata["flags"], list)
    flagged = sum("grayscale" in r.metadata["flags"] for r in recs)
    assert flagged == summary["flagged"].get("grayscale", 0) > 0


def read_all(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.jsonl"))}


def test_killed_run_resumes_to_identical_output(scenes, curated, tmp_path):
    src, out = scenes / "ingested", tmp_path / "resumed"
    config = CurateConfig()
    jobs = plan(src, out, fingerprint(curate_params(config)))
    assert len(jobs) >= 3
    run_job(jobs[0], curate_step(config, Dataset.open(src).image_root))  # then "killed"
    first = Path(jobs[0].out).stat().st_mtime_ns
    assert len(pending(jobs)) == len(jobs) - 1
    curate(src, out, config, progress=False)
    assert Path(jobs[0].out).stat().st_mtime_ns == first  # the finished shard was not redone
    assert read_all(out) == read_all(curated[0])
    # a threshold change redoes every shard
    assert len(
        pending(plan(src, out, fingerprint(curate_params(CurateConfig(min_blur=1)))))
    ) == len(jobs)


def test_threads_do_not_change_the_output(scenes, curated, tmp_path):
    out = tmp_path / "threads"
    curate(scenes / "ingested", out, CurateConfig(workers=3), progress=False)
    assert read_all(out) == read_all(curated[0])


def test_overrides_reject_and_keep(scenes, tmp_path):
    kinds = defects(scenes)
    clean, tiny = "scene-000001", kinds["tiny"][0]
    manifest = tmp_path / "overrides.json"
    manifest.write_text(json.dumps({"reject": [clean], "keep": [tiny]}))
    out = tmp_path / "reviewed"
    summary = curate(scenes / "ingested", out, overrides=load_overrides(manifest), progress=False)
    ds = Dataset.open(out)
    rows = {r["id"]: r for r in ds.rejects()}
    assert rows[clean]["filter"] == "review" and rows[clean]["reason"] == "review_reject"
    kept = {r.id: r for r in ds}
    review = kept[tiny].metadata["review"]
    assert review["decision"] == "keep" and review["overruled"]["filter"] == "size"
    assert summary["review"] == {"kept_over_filter": 1, "rejected": 1}


def test_keep_never_overrules_a_broken_image(tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    _, img = make_scene(0, 1, 64)
    (root / "images" / "cut.png").write_bytes(truncate_png(encode_png(img), 0.5))
    Image.new("RGB", (64, 64), (9, 9, 9)).save(root / "images" / "blank.png")
    convs = [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A."}]
    recs = [
        Record(id="cut", image="images/cut.png", conversations=convs),
        Record(id="escape", image="../../etc/passwd", conversations=convs),
        Record(id="blank", image="images/blank.png", conversations=convs),
        Record(id="text", conversations=[{"from": "human", "value": "Hi"}, convs[1]]),
    ]
    src = write_dataset(tmp_path / "src", recs, root).path
    keep_all = {"keep": ["cut", "escape", "blank", "text"]}
    summary = curate(src, tmp_path / "out", overrides=keep_all, progress=False)
    ds = Dataset.open(tmp_path / "out")
    rows = {r["id"]: r for r in ds.rejects()}
    assert rows["cut"]["reason"] == "image_corrupt"
    assert rows["escape"]["reason"] == "image_unsafe_path"
    for rid in ("cut", "escape"):
        assert "refused" in rows[rid]["record"]["metadata"]["review"]
    assert sorted(r.id for r in ds) == ["blank", "text"]  # a quality verdict can be overruled
    assert summary["review"] == {"keep_refused": 2, "kept": 1, "kept_over_filter": 1}


def test_load_overrides_tolerates_a_missing_file(tmp_path):
    assert load_overrides(tmp_path / "nope.json") == {"reject": [], "keep": []}
    assert load_overrides(None) == {"reject": [], "keep": []}
    both = normalize_overrides({"reject": ["a", 3], "keep": ["a", "b", "b"]})
    assert both == {"reject": ["3", "a"], "keep": ["b"]}  # rejecting wins a conflict
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError):
        load_overrides(tmp_path / "bad.json")


def test_changed_overrides_redo_the_shards(scenes, tmp_path):
    src = scenes / "ingested"
    a = fingerprint(curate_params(CurateConfig(), {"reject": ["x"]}))
    b = fingerprint(curate_params(CurateConfig(), {"reject": ["y"]}))
    c = fingerprint(curate_params(CurateConfig(workers=4), {"reject": ["x"]}))
    assert a != b and a == c
    assert len(pending(plan(src, tmp_path / "o", a))) == len(Dataset.open(src).shards)
