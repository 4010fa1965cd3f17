"""The experiment's pictures: accuracy curves with their min-max bands, the crowding panel,
each strategy's paired difference to random with its interval, and the CSVs `dvc plots`
draws (vit.active.curves computes what they show).

    plot_curves(report["curves"], "docs/al.png", majority_of(runs))
    plot_paired(report["vs_random"], "docs/al_paired.png")
    write_plot_data(report["curves"], Path("data/al_experiment/plots"))
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


def write_plot_data(cur: dict[str, dict[str, Any]], folder: Path) -> None:
    """One CSV per strategy for `dvc plots`: round, samples, accuracy, min, max."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, c in cur.items():
        with (folder / f"{name}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["round", "samples", "accuracy", "accuracy_min", "accuracy_max"])
            w.writerows(zip(c["round"], c["samples"], c["mean"], c["min"], c["max"], strict=True))


def majority_of(runs: dict[str, list[dict[str, Any]]]) -> float | None:
    """The majority-answer baseline over the runs' rows (the plot's dashed line)."""
    vals = [r["majority"] for rows in runs.values() for r in rows if r.get("majority") is not None]
    return float(np.mean(vals)) if vals else None


def _pyplot() -> Any:
    """matplotlib's pyplot on the headless backend (DVC stages and CI have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    """Lay out, write (making the folder) and close the figure; returns the path."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_curves(cur: dict[str, dict[str, Any]], path: str | Path, majority: float | None) -> Path:
    """Left: accuracy against synthesized samples (mean line, min-max band, one color a
    strategy). Right, when the rows have it: accuracy by scene crowding at the last round
    every strategy reached, where the long tail of crowded scenes would show a selection
    paying off."""
    plt = _pyplot()

    # Crowding at the last round every strategy reached, so the bars compare equal budgets.
    last = min((len(c["round"]) for c in cur.values()), default=0) - 1
    crowd = {
        name: c["by_objects"][last]
        for name, c in sorted(cur.items())
        if last >= 0 and c.get("by_objects") and c["by_objects"][last]
    }
    fig, axes = plt.subplots(1, 2 if crowd else 1, figsize=(11 if crowd else 6.4, 4.2), dpi=120)
    ax = axes[0] if crowd else axes
    colors = {}
    for name, c in sorted(cur.items()):
        seeds = f"{c['seeds']} seed{'s' if c['seeds'] > 1 else ''}"
        (line,) = ax.plot(c["samples"], c["mean"], marker="o", label=f"{name} ({seeds})")
        colors[name] = line.get_color()
        ax.fill_between(c["samples"], c["min"], c["max"], color=colors[name], alpha=0.15)
    if majority is not None:
        ax.axhline(majority, color="gray", ls="--", lw=1, label="majority answer")
    ax.set_xlabel("synthesized training samples")
    ax.set_ylabel("test accuracy (probe questions)")
    ax.set_title("Accuracy vs synthesis budget (mean, min-max band)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if crowd:
        _plot_crowding(axes[1], crowd, colors, last)
    return _save(fig, path)


def _plot_crowding(
    ax: Any, crowd: dict[str, dict[str, float]], colors: dict[str, str], last: int
) -> None:
    bands = list(next(iter(crowd.values())))
    width = 0.8 / len(crowd)
    for j, (name, acc) in enumerate(crowd.items()):
        xs = [i + (j - (len(crowd) - 1) / 2) * width for i in range(len(bands))]
        ax.bar(xs, [acc.get(b, 0.0) for b in bands], width, label=name, color=colors.get(name))
    ax.set_xticks(range(len(bands)), bands)
    ax.set_xlabel("objects in the test scene")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.set_title(f"By scene crowding, round {last}")
    # headroom above the bars for a legend in columns: with many strategies a one-column
    # legend covered the crowded bands' bars
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=3, loc="upper center")


def paired_png(png: str | Path) -> Path:
    """Where the paired-difference picture goes beside the curves: `<stem>_paired.png`."""
    png = Path(png)
    return png.with_name(f"{png.stem}_paired{png.suffix}")


def plot_paired(vs: dict[str, dict[str, Any]], path: str | Path) -> Path | None:
    """Each strategy minus random at the last round, seed-paired: the mean and its 95%
    t-interval over seeds, one row a strategy, best at the top, green where the interval
    lies above zero (the report's `clear`). The curves' min-max bands overlap whatever the
    gain, since random's own runs spread by several points; this is the picture of the
    bar's "clearly". None when no strategy has an interval (fewer than two seeds)."""
    rows = sorted(
        (
            (name, v["paired"])
            for name, v in vs.items()
            if v.get("paired") and "final_ci95" in v["paired"]
        ),
        key=lambda kv: kv[1]["final"],
    )
    if not rows:
        return None
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.45 * len(rows)), dpi=120)
    for y, (_, p) in enumerate(rows):
        lo, hi = (100 * x for x in p["final_ci95"])
        color = "tab:green" if p.get("clear") else "tab:gray"
        ax.plot([lo, hi], [y, y], color=color, lw=2.5)
        ax.plot(100 * p["final"], y, "o", color=color)
        ax.annotate(
            f"{100 * p['final']:+.1f} [{lo:+.1f}, {hi:+.1f}]",
            (hi, y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(rows)), [f"{n} ({len(p['seeds'])} seeds)" for n, p in rows])
    ax.set_xlabel("minus random at the last round, points (95% interval)")
    ax.set_title("Seed-paired difference to random (green: clear)")
    ax.margins(x=0.25)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)
