"""Prefect flows for ingest/validate and export (`vit ingest`, `vit export`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from vit.export import export_dataset
from vit.ingest import ingest


@task(name="read-validate-write")
def ingest_task(
    fmt: str, src: str, out: str, image_root: str | None, options: dict
) -> dict[str, Any]:
    return ingest(fmt, src, out, image_root, **options)


@task(name="export")
def export_task(fmt: str, src: str, out: str) -> dict[str, Any]:
    return export_dataset(fmt, src, out)


@flow(name="ingest", log_prints=True)
def ingest_flow(
    fmt: str, src: str, out: str, image_root: str | None = None, options: dict | None = None
) -> dict[str, Any]:
    """Read a source in any supported format, check the LLaVA contract, keep every reject."""
    summary = ingest_task(fmt, src, out, image_root, options or {})
    print(
        f"ingest {src}: kept {summary['kept']}, rejected {summary['rejected']} {summary['rejected_by']}"
    )
    return summary


@flow(name="export", log_prints=True)
def export_flow(fmt: str, src: str, out: str) -> dict[str, Any]:
    """Write a dataset in the format a trainer takes (LLaVA JSON, messages JSONL, HF dataset)."""
    return export_task(fmt, src, out)
