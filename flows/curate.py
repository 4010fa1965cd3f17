"""Prefect flow for curation (`vit curate IN --out OUT`): one task per shard.

Shards are the unit of work and of resume: a shard whose output is already complete for
the same input and params is skipped, so a killed run redoes only what was unfinished.
The task runner decides where shards run (threads by default; Dask for scale-out).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.runtime import task_runner
from vit import shards
from vit.config import build
from vit.curate.filters import CurateConfig
from vit.curate.groundtruth import score_curation
from vit.curate.run import curate_params, curate_step
from vit.overrides import load_overrides
from vit.records import Dataset, write_json


@task(name="curate-shard")
def curate_shard(
    job: shards.ShardJob, config: CurateConfig, image_root: str, overrides: dict
) -> dict:
    return shards.run_job(job, curate_step(config, Path(image_root), overrides))


@flow(name="curate", log_prints=True, task_runner=task_runner())
def curate_flow(
    src: str,
    out: str,
    params: dict[str, Any] | None = None,
    overrides_path: str | None = None,
    defects: str | None = None,
    metrics_path: str | None = None,
) -> dict[str, Any]:
    """Quality filters over every shard; every drop lands in OUT/rejects.jsonl with its reason."""
    config = build(CurateConfig, params, "params.yaml: curate")
    overrides = load_overrides(overrides_path)
    ds_in = Dataset.open(src)
    jobs = shards.plan(src, out, shards.fingerprint(curate_params(config, overrides)))
    todo = shards.pending(jobs)
    futures = [curate_shard.submit(j, config, str(ds_in.image_root), overrides) for j in todo]
    for f in futures:
        f.result()
    ds = shards.finish(src, out, jobs, {"stage": "curate", "src": src})
    rejects = ds.rejects()
    summary: dict[str, Any] = {"kept": ds.count, "rejected": len(rejects), "shards_run": len(todo)}
    summary["rejected_by"] = dict(sorted(Counter(r.get("filter", "?") for r in rejects).items()))
    if defects and Path(defects).exists():
        summary["groundtruth"] = score_curation(
            defects, ds_in.rejects(), rejects, {r.id for r in ds}
        )
    if metrics_path:
        write_json(metrics_path, summary)
    print(f"curate: kept {ds.count}, rejected {len(rejects)} {summary['rejected_by']}")
    return summary
