"""Prefect flow for the incremental refresh (`vit refresh`; nightly as the `refresh` deployment).

    vit refresh                                   # params.yaml's `refresh` section
    vit refresh --incoming DIR --threshold 50     # flags override single fields

New images in `refresh.incoming` are ingested, curated, deduplicated against everything
already seen and appended to `refresh.dataset`; those whose annotations came in the
`records.jsonl` sidecar get instructions in `refresh.synth_out` (vit/refresh/ does it all). When the
records added since the last training reach `refresh.threshold`, retraining is due: the flow
runs the deployment named in `refresh.retrain_deployment` without waiting for it (training
takes long; the run is visible in the UI) and starts the count again, or, with none named,
reports it as due.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from vit.config import build, load_params
from vit.refresh import RefreshConfig, mark_trained, refresh


@task(name="refresh-batch")
def refresh_task(config: RefreshConfig, params: dict[str, Any]) -> dict[str, Any]:
    # No retries: it touches only local files, and a failed run is redone by the next one
    # (the ledger is written last).
    return refresh(config, params)


@flow(name="refresh", log_prints=True)
def refresh_flow(
    incoming: str | None = None,
    dataset: str | None = None,
    seen: list[str] | None = None,
    state: str | None = None,
    synth_out: str | None = None,
    threshold: int | None = None,
    retrain_deployment: str | None = None,
    params_path: str = "params.yaml",
) -> dict[str, Any]:
    """Ingest, curate and dedup new images from the incoming folder; append them and
    synthesize for them; say when retraining is due (and trigger it when a deployment is
    named)."""
    params = load_params(params_path)
    given = dict(
        incoming=incoming,
        dataset=dataset,
        seen=seen,
        state=state,
        synth_out=synth_out,
        threshold=threshold,
        retrain_deployment=retrain_deployment,
    )
    section = {**(params.get("refresh") or {}), **{k: v for k, v in given.items() if v is not None}}
    config = build(RefreshConfig, section, f"{params_path}: refresh")
    summary = refresh_task(config, params)
    if summary["retrain_due"] and config.retrain_deployment:
        from prefect.deployments import run_deployment

        run = run_deployment(config.retrain_deployment, timeout=0)  # do not wait for training
        mark_trained(
            config.state, {"deployment": config.retrain_deployment, "flow_run": str(run.id)}
        )
        summary["retrain_triggered"] = {
            "deployment": config.retrain_deployment,
            "flow_run": str(run.id),
        }
    print(
        f"refresh: {summary['files']} files, {summary['new']} new: added {summary['added']}, "
        f"duplicates {len(summary['duplicates'])}, rejected {len(summary['rejected'])}, "
        f"instructions {summary['synthesized']}; "
        f"{summary['since_training']}/{summary['threshold']} toward retraining"
        + (" (due)" if summary["retrain_due"] else "")
    )
    return summary
