"""The stage flows on a real Prefect server (the session harness), end to end on scenes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vit.records import Dataset, read_jsonl


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, prefect_api) -> Path:
    from flows.generate import generate_scenes_flow

    out = tmp_path_factory.mktemp("scenes")
    generate_scenes_flow(out=str(out), n=120, seed=3, size=64, defect_rate=0.1)
    return out


def test_ingest_flow_rejects_exactly_the_injected_ingest_defects(scenes, tmp_path):
    from flows.ingest import ingest_flow

    summary = ingest_flow(fmt="vitflow", src=str(scenes / "scenes.jsonl"), out=str(tmp_path / "ds"))
    defects = list(read_jsonl(scenes / "defects.jsonl"))
    at_ingest = [d for d in defects if d["caught_by"] == "ingest"]
    ds = Dataset.open(tmp_path / "ds")
    rejected = ds.rejects()
    assert summary["rejected"] == len(rejected) == len(at_ingest)
    # Every defect meant for ingest is caught, by id (malformed lines by their line).
    want_ids = {d["id"] for d in at_ingest if d["kind"] != "malformed_json"}
    got_ids = {r["id"] for r in rejected if r["stage"] == "validate"}
    assert want_ids == got_ids
    # Nothing else is lost: every clean record and every later-stage defect is kept.
    kept = {r.id for r in ds}
    later = {d["id"] for d in defects if d["caught_by"] != "ingest"}
    assert later <= kept
    assert summary["kept"] == len(kept) == summary["read"] - summary["rejected"]
    assert all(r.width and r.height for r in ds)


@pytest.mark.parametrize("fmt", ["llava", "messages", "hf"])
def test_export_flow_writes_valid_trainer_formats(scenes, tmp_path, fmt):
    from flows.ingest import export_flow, ingest_flow
    from vit.validate_cmd import validate_path

    ingest_flow(fmt="vitflow", src=str(scenes / "scenes.jsonl"), out=str(tmp_path / "ds"))
    summary = export_flow(fmt=fmt, src=str(tmp_path / "ds"), out=str(tmp_path / fmt))
    assert summary["written"] == Dataset.open(tmp_path / "ds").count
    ok, text = validate_path(summary["path"], fmt=fmt)
    assert ok, text


def test_flow_runs_are_recorded_by_the_server(scenes):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        names = {f.name for f in client.read_flows()}
    assert "generate-scenes" in names
    assert any(r.state and r.state.is_completed() for r in runs)


def test_metrics_file_written(scenes, tmp_path):
    from flows.ingest import ingest_flow

    m = tmp_path / "m.json"
    ingest_flow(
        fmt="vitflow",
        src=str(scenes / "scenes.jsonl"),
        out=str(tmp_path / "ds"),
        options={"metrics_path": str(m)},
    )
    assert json.loads(m.read_text())["kept"] > 100


def test_curate_flow_scores_against_ground_truth_and_resumes(scenes, tmp_path):
    from flows.curate import curate_flow
    from flows.ingest import ingest_flow

    ingest_flow(fmt="vitflow", src=str(scenes / "scenes.jsonl"), out=str(tmp_path / "ds"))
    kw = dict(
        src=str(tmp_path / "ds"), out=str(tmp_path / "cur"), defects=str(scenes / "defects.jsonl")
    )
    first = curate_flow(**kw)
    gt = first["groundtruth"]
    for kind, row in gt["kinds"].items():
        assert row["recall"] == 1.0, kind
    assert gt["false_rejects"]["total"] == 0
    assert first["shards_run"] == 1
    again = curate_flow(**kw)  # nothing changed: no shard is redone
    assert again["shards_run"] == 0 and again["kept"] == first["kept"]
    changed = curate_flow(**kw, params={"min_side": 8})  # params change: redone
    assert changed["shards_run"] == 1


@pytest.fixture(scope="module")
def curated(scenes, tmp_path_factory) -> Path:
    from flows.curate import curate_flow
    from flows.ingest import ingest_flow

    base = tmp_path_factory.mktemp("pipeline")
    ingest_flow(fmt="vitflow", src=str(scenes / "scenes.jsonl"), out=str(base / "ingested"))
    curate_flow(src=str(base / "ingested"), out=str(base / "curated"))
    return base


def test_dedup_flow_finds_every_injected_duplicate_without_leakage(scenes, curated):
    from flows.dedup import dedup_flow

    s = dedup_flow(
        src=str(curated / "curated"),
        out=str(curated / "deduped"),
        params={"methods": ["exact", "near", "semantic"]},
        defects=str(scenes / "defects.jsonl"),
    )
    gt = s["groundtruth"]
    assert gt["exact_duplicate"]["recall"] == 1.0
    assert gt["near_duplicate"]["recall"] >= 0.95
    assert gt["methods"]["exact"]["precision"] == gt["methods"]["near"]["precision"] == 1.0
    assert s["leakage"] == 0
    assert (curated / "deduped" / "embeddings.npz").exists()


def test_synth_and_review_flows(curated, fiftyone_db, tmp_path):
    from flows.dedup import dedup_flow
    from flows.review import review_pull_flow, review_sync_flow
    from flows.synth import synth_flow

    deduped = curated / "deduped2"
    dedup_flow(src=str(curated / "curated"), out=str(deduped), params={"methods": ["exact"]})
    m = synth_flow(
        src=str(deduped),
        out=str(tmp_path / "synth"),
        params={"cache_dir": str(tmp_path / "cache"), "dedup": False},
    )
    assert m["total"]["kept"] > 0 and m["total"]["hallucinated"] == 0
    rep = review_sync_flow(
        name="flowtest",
        ingested=str(curated / "ingested"),
        curated=str(curated / "curated"),
        deduped=str(deduped),
    )
    assert rep["status"]["kept"] == Dataset.open(deduped).count
    manifest = review_pull_flow(name="flowtest", out=str(tmp_path / "overrides.json"))
    assert manifest == {"keep": [], "reject": []}


def test_reviewer_tags_flow_back_into_curate_and_dedup(curated, fiftyone_db, tmp_path):
    """FiftyOne tag -> `review pull` manifest -> the next curate/dedup run obeys it."""
    import fiftyone as fo

    from flows.curate import curate_flow
    from flows.dedup import dedup_flow
    from flows.review import review_pull_flow, review_sync_flow

    deduped = tmp_path / "deduped"
    dedup_flow(src=str(curated / "curated"), out=str(deduped), params={"methods": ["exact"]})
    review_sync_flow(name="roundtrip", curated=str(curated / "curated"), deduped=str(deduped))
    dup = next(read_jsonl(deduped / "duplicates.jsonl"))["id"]
    victim = next(iter(Dataset.open(deduped))).id
    ds = fo.load_dataset("roundtrip")
    for rid, tag in ((victim, "reject"), (dup, "keep")):
        sample = ds.one(fo.ViewField("vit_id") == rid)
        sample.tags.append(tag)
        sample.save()
    manifest = tmp_path / "overrides.json"
    assert review_pull_flow(name="roundtrip", out=str(manifest)) == {
        "keep": [dup],
        "reject": [victim],
    }

    cur = curate_flow(
        src=str(curated / "ingested"), out=str(tmp_path / "cur"), overrides_path=str(manifest)
    )
    assert victim in {r["id"] for r in Dataset.open(tmp_path / "cur").rejects()}
    assert cur["rejected_by"].get("review") == 1
    dedup_flow(
        src=str(curated / "curated"),
        out=str(tmp_path / "ded"),
        params={"methods": ["exact"]},
        overrides_path=str(manifest),
    )
    kept = {r.id for r in Dataset.open(tmp_path / "ded")}
    assert dup in kept and victim not in kept
