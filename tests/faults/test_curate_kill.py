"""kill -9 `vit curate` once its first shard is finished, start the same command again: every
record ends up kept or rejected exactly once, as in an uninterrupted run, and the shards
finished before the kill are not redone. Killed in the middle of a shard's write, the run
leaves a temporary file behind, which the restart must clear (DVC would version it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults._proc import finish, kill9, start, vit_argv, vit_env, wait_for
from vit.records import Dataset

pytestmark = pytest.mark.slow
SHARD = 100  # records per shard: 1500 scenes + defects -> 17 shards


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """Embedded scenes (with injected defects), ingested into shards of SHARD records."""
    from vit.ingest import ingest
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("curate-src")
    generate_scenes(root / "raw", n=1500, size=128, defect_rate=0.1, seed=3, progress=False)
    ingest("vitflow", root / "raw" / "scenes.jsonl", root / "in", root / "raw", shard_size=SHARD)
    return root / "in"


def finished_shards(out: Path) -> dict[str, tuple[int, str]]:
    """Shards `vit.shards` counts as done (marker stamped with its input), with the marker's
    mtime and text: what a restart must leave alone."""
    done = {}
    for marker in sorted(out.glob("records-*.jsonl.done")):
        try:
            text = marker.read_text()
            stamped = "input_sha" in json.loads(text)
        except (OSError, ValueError):
            continue  # being replaced right now
        if stamped:
            done[marker.name] = (marker.stat().st_mtime_ns, text)
    return done


def outcome(out: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """(kept records by id, reject rows by id), asserting no id appears twice anywhere."""
    ds = Dataset.open(out)
    kept = [r.to_dict() for r in ds]
    rejects = ds.rejects()
    ids = [r["id"] for r in kept] + [r["id"] for r in rejects]
    assert len(ids) == len(set(ids)), "a record was written twice"
    return {r["id"]: r for r in kept}, {r["id"]: r for r in rejects}


@pytest.fixture(scope="module")
def reference(ingested, tmp_path_factory) -> tuple[dict, dict]:
    """What an uninterrupted run keeps and rejects."""
    from vit.curate.run import curate

    out = tmp_path_factory.mktemp("curate-ref") / "out"
    curate(ingested, out, progress=False)
    return outcome(out)


def temp_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob(".*.tmp"))


def test_killed_curate_resumes_without_loss_or_rework(ingested, reference, tmp_path, prefect_api):
    ref_kept, ref_rejected = reference
    n_in = len(Dataset.open(ingested))
    n_shards = len(Dataset.open(ingested).shards)
    assert len(ref_kept) + len(ref_rejected) == n_in and ref_rejected and n_shards >= 10

    out = tmp_path / "out"
    argv = vit_argv("curate", str(ingested), "--out", str(out))
    # Two shard tasks at a time (one per core) instead of Prefect's unbounded thread pool, so
    # shards finish one after another and the kill lands between them.
    env = vit_env(prefect_api, PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS="2")
    proc = start(argv, tmp_path, env, tmp_path / "killed.log")
    wait_for(proc, lambda: finished_shards(out), tmp_path / "killed.log")
    kill9(proc)
    done = finished_shards(out)
    assert 1 <= len(done) < n_shards and not (out / "vitflow.json").exists()

    summary = finish(argv, tmp_path, env, tmp_path / "restart.log")
    assert summary["shards_run"] == n_shards - len(done)  # only the unfinished ones
    after = {name: finished_shards(out)[name] for name in done}
    assert after == done  # their markers were not even rewritten

    kept, rejected = outcome(out)
    assert kept.keys() | rejected.keys() == ref_kept.keys() | ref_rejected.keys()
    assert kept == ref_kept and rejected == ref_rejected  # same records, same content
    assert summary["kept"] == len(ref_kept) and summary["rejected"] == len(ref_rejected)
    print(
        f"\ncurate kill -9: {len(done)}/{n_shards} shards done at the kill, "
        f"{summary['shards_run']} run on restart; {len(kept)} kept + {len(rejected)} rejected "
        f"= {n_in} in, 0 lost, 0 duplicated"
    )


def test_kill_during_a_shard_write_leaves_nothing_behind(
    ingested, reference, tmp_path, prefect_api
):
    out = tmp_path / "out"
    argv = vit_argv("curate", str(ingested), "--out", str(out))
    env = vit_env(prefect_api, PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS="2")
    debris: list[str] = []
    for attempt in range(5):  # the write takes a few ms: kill until one is caught mid-way
        log = tmp_path / f"killed-{attempt}.log"
        proc = start(argv, tmp_path, env, log)
        wait_for(proc, lambda: list(out.glob(".records-*.jsonl.*.tmp")), log, timeout=60)
        kill9(proc)
        debris = temp_files(out)
        if debris:
            break
    assert debris, "never killed in the middle of a write"

    summary = finish(argv, tmp_path, env, tmp_path / "restart.log")
    assert temp_files(out) == []  # the torn write is gone, not versioned with the data
    kept, rejected = outcome(out)
    assert (kept, rejected) == reference
    assert summary["kept"] == len(kept) and summary["rejected"] == len(rejected)
    print(f"\ncurate kill -9 mid-write: left {debris}; after restart none, 0 lost")
