"""Prefect flow for deduplication (`vit dedup IN --out OUT`).

Dedup is global (every record against every other), so it is one coarse task: signatures
are streamed shard by shard inside it and image embeddings are cached by content hash, so
a rerun or an incremental run embeds only new images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from vit.config import build
from vit.dedup.groundtruth import score_output
from vit.dedup.run import DedupConfig, dedup
from vit.overrides import load_overrides
from vit.records import write_json


@task(name="dedup")
def dedup_task(src: str, out: str, config: DedupConfig, overrides: dict) -> dict[str, Any]:
    return dedup(src, out, config, overrides, progress=True)


@flow(name="dedup", log_prints=True)
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
    summary = dedup_task(src, out, config, load_overrides(overrides_path))
    summary.pop("config", None)
    if defects and Path(defects).exists():
        summary["groundtruth"] = score_output(defects, out)
    if metrics_path:
        write_json(metrics_path, summary)
    print(
        f"dedup {src}: kept {summary['kept']}, removed {summary['removed_by']}, leakage {summary['leakage']}"
    )
    return summary
