"""Scale-out: curate and dedup on a Dask LocalCluster decide exactly what they decide in-process.

    pytest tests/flows/test_dask.py

The cluster is the one `VIT_TASK_RUNNER=dask` starts (flows.runtime.LOCAL_CLUSTER: worker
processes, everything on 127.0.0.1), with 2 workers, started once for the module and reached
by its address, as a cluster you run yourself would be. Dask's task stream shows where each
task ran, so a run that silently stayed in-process would fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows import runtime
from vit.records import Dataset, read_jsonl


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Path:
    """80 scenes + injected defects, ingested in shards of 25 (4 curate tasks to spread)."""
    from flows.generate import generate_scenes_flow
    from flows.ingest import ingest_flow

    base = tmp_path_factory.mktemp("dask")
    generate_scenes_flow(out=str(base / "raw"), n=80, seed=5, size=64, defect_rate=0.2)
    src = str(base / "raw" / "scenes.jsonl")
    ingest_flow(fmt="vitflow", src=src, out=str(base / "ingested"), options={"shard_size": 25})
    assert len(Dataset.open(base / "ingested").shards) == 4
    return base / "ingested"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, **runtime.LOCAL_CLUSTER) as c, Client(c) as client:
        yield c, client


def on_dask(flow: Any, cluster: Any, **kwargs: Any) -> tuple[dict[str, Any], set[str], list]:
    """Run `flow` with its tasks on `cluster`; (summary, workers used, task keys)."""
    from distributed import get_task_stream

    c, client = cluster
    runner = runtime.task_runner("dask", address=c.scheduler_address)
    with get_task_stream(client) as stream:
        summary = flow.with_options(task_runner=runner)(**kwargs)
    return summary, {t["worker"] for t in stream.data}, [t["key"] for t in stream.data]


def in_process(flow: Any, **kwargs: Any) -> dict[str, Any]:
    return flow.with_options(task_runner=runtime.task_runner("thread"))(**kwargs)


def records(path: Path) -> list[dict[str, Any]]:
    return [r.to_dict() for r in Dataset.open(path)]


def test_the_cluster_listens_on_loopback_only(cluster):
    c, client = cluster
    workers = client.scheduler_info()["workers"]
    assert c.scheduler_address.startswith("tcp://127.0.0.1:") and len(workers) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)


@pytest.mark.slow
def test_curate_on_dask_keeps_and_rejects_exactly_the_same(ingested, cluster, tmp_path):
    from flows.curate import curate_flow

    here = in_process(curate_flow, src=str(ingested), out=str(tmp_path / "threads"))
    there, workers, keys = on_dask(
        curate_flow, cluster, src=str(ingested), out=str(tmp_path / "dask")
    )
    # Dask keys are "<function>-<token>": every shard's task ran on the cluster.
    assert sorted(str(k).split("-")[0] for k in keys) == ["curate_shard"] * 4, keys
    assert workers <= set(cluster[1].scheduler_info()["workers"])
    assert there == here
    assert here["rejected"] > 0 and here["shards_run"] == 4
    assert records(tmp_path / "dask") == records(tmp_path / "threads")
    rejects = [Dataset.open(tmp_path / d).rejects() for d in ("threads", "dask")]
    assert rejects[0] == rejects[1]


@pytest.mark.slow
def test_dedup_on_dask_embeds_per_shard_across_workers_and_decides_the_same(
    ingested, cluster, tmp_path
):
    from flows.curate import curate_flow
    from flows.dedup import dedup_flow

    curate_flow(src=str(ingested), out=str(tmp_path / "curated"))
    src = str(tmp_path / "curated")
    n_shards = len(Dataset.open(src).shards)
    images = {r["metadata"]["hashes"]["pixel"] for r in records(tmp_path / "curated")}

    def params(name: str) -> dict:  # each run its own empty embedding cache: both embed afresh
        return {"params": {"cache_root": str(tmp_path / f"cache-{name}")}}

    here = in_process(dedup_flow, src=src, out=str(tmp_path / "threads"), **params("threads"))
    there, workers, keys = on_dask(
        dedup_flow, cluster, src=src, out=str(tmp_path / "dask"), **params("dask")
    )
    names = [str(k).split("-")[0] for k in keys]
    assert sorted(names) == sorted(["embed_shard_task"] * n_shards + ["dedup_task"]), keys
    assert workers == set(cluster[1].scheduler_info()["workers"])  # spread over both
    for summary in (here, there):
        # a copy in two shards may be embedded by both at once; the cache keeps one
        assert summary["embed_shards"]["shards"] == n_shards
        assert summary["embed_shards"]["embedded"] >= len(images)
        assert not summary["cached"]
    fresh = in_process(dedup_flow, src=src, out=str(tmp_path / "threads"), **params("threads"))
    assert fresh["embed_shards"]["embedded"] == 0 and fresh["cached"]

    def decided(out: str) -> tuple[list, list]:
        kept = [(r["id"], r["split"]) for r in records(tmp_path / out)]
        dups = read_jsonl(tmp_path / out / "duplicates.jsonl")
        return kept, sorted((d["id"], d["duplicate_of"], d["kind"]) for d in dups)

    kept, removed = decided("threads")
    assert decided("dask") == (kept, removed)
    assert removed and len(kept) == here["kept"] == there["kept"]
    assert here["removed_by"] == there["removed_by"]


def test_the_task_runner_is_a_setting(monkeypatch):
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    for var in ("VIT_TASK_RUNNER", "VIT_DASK_ADDRESS", "VIT_DASK_WORKERS"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(runtime.task_runner(), ThreadPoolTaskRunner)  # the default
    monkeypatch.setenv("VIT_TASK_RUNNER", "dask")
    monkeypatch.setenv("VIT_DASK_WORKERS", "3")
    local = runtime.task_runner()
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs == {**runtime.LOCAL_CLUSTER, "n_workers": 3}
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    assert "127.0.0.1" in local.cluster_kwargs["dashboard_address"]
    assert isinstance(runtime.task_runner("thread"), ThreadPoolTaskRunner)  # argument wins
    monkeypatch.delenv("VIT_TASK_RUNNER")
    monkeypatch.setenv("VIT_DASK_ADDRESS", "tcp://127.0.0.1:8786")
    assert runtime.task_runner().address == "tcp://127.0.0.1:8786"  # an address means dask
    with pytest.raises(ValueError, match="task runner must be one of"):
        runtime.task_runner("ray")


def test_the_cli_takes_the_task_runner():
    from flows.cli import build_parser

    args = build_parser().parse_args(["dedup", "IN", "--out", "O", "--task-runner", "dask"])
    assert (args.task_runner, args.dask_address) == ("dask", None)
    args = build_parser().parse_args(["curate", "IN", "--out", "O", "--dask-address", "tcp://h:1"])
    assert (args.task_runner, args.dask_address) == (None, "tcp://h:1")
