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
