"""Prefect flow for evaluation (`vit eval`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task


@task(name="evaluate")
def eval_task(model: str, data: str, out: str, params: dict[str, Any]) -> dict[str, Any]:
    from vit.evaluate.run import evaluate_model

    return evaluate_model(model, data, out, **params)


@flow(name="evaluate", log_prints=True)
def eval_flow(
    model: str, data: str, out: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Accuracy per question type on the held-out split, beside the majority and stage-1
    baselines."""
    report = eval_task(model, data, out, params or {})
    print(f"evaluate {model}: overall {report['overall']}")
    return report
