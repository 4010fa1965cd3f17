"""Prefect flows that make the embedded default data (`vit generate scenes|digits`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from vit.sources.digits import generate_digits
from vit.sources.scenes import generate_scenes


@task(name="draw-scenes")
def draw_scenes(out: str, n: int, seed: int, size: int, defect_rate: float) -> dict[str, Any]:
    return generate_scenes(
        Path(out), n=n, seed=seed, size=size, defect_rate=defect_rate, progress=True
    )


@task(name="draw-digits")
def draw_digits(out: str, limit: int | None, size: int, seed: int) -> dict[str, Any]:
    return generate_digits(Path(out), limit=limit, size=size, seed=seed)


@flow(name="generate-scenes", log_prints=True)
def generate_scenes_flow(
    out: str, n: int = 1000, seed: int = 0, size: int = 128, defect_rate: float = 0.1
) -> dict[str, Any]:
    """Seeded synthetic scenes with exact annotations, captions and known injected defects."""
    return draw_scenes(out, n, seed, size, defect_rate)


@flow(name="generate-digits", log_prints=True)
def generate_digits_flow(
    out: str, limit: int | None = None, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """scikit-learn's handwritten digits as real-image classification records."""
    return draw_digits(out, limit, size, seed)
