"""Prefect flow for deduplication (`vit dedup IN --out OUT`).

Dedup is global (every record against every other), so the deciding is one coarse task;
its expensive part, the image embedding, is per image, so it fans out first: one
`embed-shard` task per input shard fills the content-hash embedding cache (on Dask workers
with the Dask task runner), and the global task then finds every vector cached. A rerun or
an incremental run embeds only new images. With `cache_root: ""` (no cache) the global
task embeds by itself.

The task's result is persisted under a key from content (the input's shards, the config,
the overrides, the output path, the vit/dedup + vit/embed code; flows/caching.py): the
pipeline deployment re-running an unchanged dedup gets the stored summary at once, and a
result is trusted only while the output it describes is still there and whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.caching import content_key, intact
from flows.runtime import task_runner
from vit.config import build
from vit.dedup.groundtruth import score_output
from vit.dedup.run import DedupConfig, dedup
from vit.dedup.signatures import embed_shard
from vit.overrides import load_overrides
from vit.records import Dataset, write_json


def dedup_cache_key(context: Any, inputs: dict[str, Any]) -> str:
    config, overrides = inputs["config"].params(), inputs["overrides"]
    code = ("vit.dedup", "vit.embed")
    return content_key("dedup", inputs["src"], inputs["out"], code, config=config, ov=overrides)


@task(name="dedup", cache_key_fn=dedup_cache_key, persist_result=True)
def dedup_task(src: str, out: str, config: DedupConfig, overrides: dict) -> dict[str, Any]:
    return dedup(src, out, config, overrides, progress=True)


@task(name="embed-shard")
def embed_shard_task(src: str, shard: str, config: DedupConfig) -> dict[str, Any]:
    return embed_shard(src, shard, config)


def embed_shards(src: str, config: DedupConfig) -> dict[str, Any] | None:
    """Fan the image embedding out per shard (None when dedup needs no cached embeddings)."""
    if not config.cache_root or not {"semantic", "joint"} & set(config.methods):
        return None
    names = Dataset.open(src).shards
    futures = [embed_shard_task.submit(src, name, config) for name in names]
    done = [f.result() for f in futures]
    return {"shards": len(done), "embedded": sum(d["embedded"] for d in done)}


@flow(name="dedup", log_prints=True, task_runner=task_runner())
def dedup_flow(
    src: str,
    out: str,
    params: dict[str, Any] | None = None,
    overrides_path: str | None = None,
    defects: str | None = None,
    metrics_path: str | None = None,
) -> dict[str, Any]:
    """Exact, near, semantic, joint and text dedup; leak-free splits by duplicate group."""
    config = build(DedupConfig, params, "params.yaml: dedup")
    whole = intact(out, ("duplicates.jsonl",))
    fanned = embed_shards(src, config)
    run = dedup_task if whole else dedup_task.with_options(refresh_cache=True)
    # Submitted, not called: a call runs in the flow's own thread, a submit goes to the task
    # runner (a Dask worker with VIT_TASK_RUNNER=dask; see flows/runtime.py).
    future = run.submit(src, out, config, load_overrides(overrides_path))
    future.wait()
    state = future.state
    summary = dict(state.result())
    summary["cached"] = state.name == "Cached"
    summary.pop("config", None)
    if fanned:
        summary["embed_shards"] = fanned
    if defects and Path(defects).exists():
        summary["groundtruth"] = score_output(defects, out)
    if metrics_path:
        write_json(metrics_path, summary)
    print(
        f"dedup {src}: kept {summary['kept']}, removed {summary['removed_by']}, leakage {summary['leakage']}"
    )
    return summary
