"""The loss history of a run: OUT/history.json (every Trainer log), OUT/loss.png, and the
curves as DVC plot data: OUT/plots/loss_train.json and OUT/plots/loss_validation.json
(`[{"step": 10, "loss": 2.1}, ...]`, one file per curve so `dvc plots show` draws both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HISTORY = "history.json"
PLOT = "loss.png"
CURVES = {"train": "loss", "validation": "eval_loss"}


def write_history(history: list[dict[str, Any]], out: Path) -> Path:
    """Write the log history as JSON and the train/eval loss curve as a PNG; returns the JSON."""
    path = Path(out) / HISTORY
    path.write_text(json.dumps(history, indent=2) + "\n")
    plot_losses(history, Path(out) / PLOT)
    write_curves(history, Path(out) / "plots")
    return path


def write_curves(history: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One JSON list of {step, loss} per curve (train, validation), for `dvc plots`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, key in CURVES.items():
        steps, values = series(history, key)
        path = folder / f"loss_{name}.json"
        rows = [{"step": s, "loss": round(float(v), 6)} for s, v in zip(steps, values, strict=True)]
        path.write_text(json.dumps(rows) + "\n")
        paths.append(path)
    return paths


def series(history: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one logged quantity."""
    rows = [(h["step"], h[key]) for h in history if key in h and "step" in h]
    return [s for s, _ in rows], [v for _, v in rows]


def plot_losses(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("loss", "train"), ("eval_loss", "validation")):
        steps, values = series(history, key)
        if steps:
            ax.plot(steps, values, marker="." if len(steps) < 50 else None, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
