"""Prefect flow for instruction synthesis (`vit synth IN --out OUT`).

Retries sit here, on the task that talks to an LLM; inside it the backend already retries
each request (backoff, Retry-After), and the generation cache makes a retried task resend
only what was not answered, so a retry never pays twice.

The task carries the tag `llm`: `vit deploy` / `vit serve` set a tag concurrency limit on it
(params.yaml `deploy.llm_concurrency`), so the pipeline, a refresh and active learning never
hit one LLM server with more synth tasks at once than that; each task bounds its own
requests (`synthesize.concurrency`). Until a limit is created, the tag changes nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from vit.synth.config import SynthConfig
from vit.synth.run import synthesize


@task(name="synthesize", retries=2, retry_delay_seconds=10, retry_jitter_factor=0.5, tags=["llm"])
def synth_task(src: str, out: str, params: dict[str, Any]) -> dict[str, Any]:
    return synthesize(src, out, SynthConfig.from_dict(params), progress=True)


@flow(name="synthesize", log_prints=True)
def synth_flow(src: str, out: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """LLaVA's three instruction types from captions + boxes, each answer checked against the
    annotations, cached by backend/model/template/context/sampling."""
    metrics = synth_task(src, out, params or {})
    print(f"synthesize {src} -> {out}: {metrics['total']}")
    return metrics
