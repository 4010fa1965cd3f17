"""Every strategy from the same seed sets, budgets and test split, over several seeds; the
accuracy curves against synthesized samples, as metrics, DVC plot data and a PNG.

    runs = run_experiment(cfg, synth, ["random", "hybrid"], seeds=[0, 1], out="data/al_experiment")
    write_report(runs, "metrics/al_experiment.json", "data/al_experiment/plots", "docs/al_curves.png")

Per seed, round 0 (the seed set, its training and its hard-example variants) is computed
once in OUT/seed-S/seed and every strategy continues from it (OUT/seed-S/<strategy>), so
the strategies differ only in what they select. The x axis is `samples`: the synthesized
records the round trained on (seed set + selections + variants), the quantity a synthesis
budget pays for; every strategy has the same count per round up to validator drops.

The metrics file (`metrics/al.json` for one `vit al` run) holds:

    {"runs": {"hybrid/seed-0": {"round-0": {round, samples, images, accuracy, by_type, ...}}},
     "curves": {"hybrid": {"round": [...], "samples": [...], "mean": [...], "min": [...],
                           "max": [...], "std": [...], "seeds": n}},
     "final": {"hybrid": mean accuracy at the last round},
     "vs_random": {"hybrid": {"gain": final - random's final,
                              "samples_to_reach_random": x or null, "budget_saved": 0.4}}}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vit.active.config import ActiveConfig
from vit.records import write_json

RunOne = Callable[[ActiveConfig, str | None, bool], list[dict[str, Any]]]


def run_key(strategy: str, seed: int) -> str:
    return f"{strategy}/seed-{seed}"


def run_experiment(
    cfg: ActiveConfig,
    synth: Any,
    strategies: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    run_one: RunOne | None = None,
    on_run: Callable[[dict[str, list[dict[str, Any]]]], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows per run key (`strategy/seed-S`). `run_one(cfg, seed_round, hard_last)` runs one
    loop (default: `run_loop` here; a Prefect subflow in flows/active.py); `on_run(runs)`
    sees the runs so far after each one (to write the report as it grows)."""
    from vit.active.loop import run_loop

    def direct(c: ActiveConfig, seed_round: str | None, hard_last: bool) -> list[dict]:
        return run_loop(c, synth, seed_round=seed_round, hard_last=hard_last)

    run_one = run_one or direct
    out = Path(out)
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        base = replace(cfg, seed=seed, metrics_path="")
        seed_out = out / f"seed-{seed}"
        run_one(replace(base, strategy="random", rounds=0, out=str(seed_out / "seed")), None, True)
        for strategy in strategies:
            c = replace(base, strategy=strategy, out=str(seed_out / strategy))
            runs[run_key(strategy, seed)] = run_one(c, str(seed_out / "seed" / "round-0"), False)
            if on_run is not None:
                on_run(runs)
    return runs


def runs_on_disk(
    out: str | Path, strategies: Sequence[str], seeds: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """The rows `run_experiment` returns, read back from the rounds' summary.json files, so
    seeds run as separate processes (one thread each) merge into one report. A strategy
    folder whose rounds were not made from this seed round (its run.json names another)
    or that has no finished round is left out."""
    out = Path(out)
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        base = out / f"seed-{seed}" / "seed"
        first = base / "round-0" / "summary.json"
        if not first.exists():
            continue
        seed_run = (base / "run.json").read_text() if (base / "run.json").exists() else ""
        for strategy in strategies:
            folder = out / f"seed-{seed}" / strategy
            stamp = folder / "run.json"
            if not stamp.exists() or json.loads(stamp.read_text()).get("seed_run") != seed_run:
                continue
            done = [p for p in folder.glob("round-*") if (p / "summary.json").exists()]
            done.sort(key=lambda p: int(p.name.split("-")[1]))
            if done:
                rows = [json.loads(p.joinpath("summary.json").read_text()) for p in done]
                runs[run_key(strategy, seed)] = [json.loads(first.read_text()), *rows]
    return runs


def curves(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per strategy, per round: mean samples and accuracy mean / min / max / std over seeds
    (rounds that not every seed reached are left out)."""
    by: dict[str, list[list[dict[str, Any]]]] = {}
    for key, rows in runs.items():
        by.setdefault(key.split("/")[0], []).append(rows)
    out = {}
    for strategy, seed_rows in by.items():
        n = min(len(r) for r in seed_rows)
        acc = np.array([[r[k]["accuracy"] for k in range(n)] for r in seed_rows], dtype=float)
        samples = np.array([[r[k]["samples"] for k in range(n)] for r in seed_rows], dtype=float)
        out[strategy] = {
            "round": list(range(n)),
            "samples": [round(float(x), 1) for x in samples.mean(0)],
            "mean": _r(acc.mean(0)),
            "min": _r(acc.min(0)),
            "max": _r(acc.max(0)),
            "std": _r(acc.std(0)),
            "seeds": len(seed_rows),
        }
    return out


def _r(a: np.ndarray) -> list[float]:
    return [round(float(x), 4) for x in a]


def samples_to_reach(curve: dict[str, Any], target: float) -> float | None:
    """The fewest samples at which the mean curve reaches `target` (linear between rounds)."""
    xs, ys = curve["samples"], curve["mean"]
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y >= target:
            if i == 0:
                return x
            x0, y0 = xs[i - 1], ys[i - 1]
            return round(x0 + (x - x0) * (target - y0) / (y - y0), 1)
    return None


def versus_random(cur: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each strategy against random: final gain, and the budget it needs for random's final."""
    if "random" not in cur:
        return {}
    target, budget = cur["random"]["mean"][-1], cur["random"]["samples"][-1]
    out = {}
    for name, c in cur.items():
        if name == "random":
            continue
        reach = samples_to_reach(c, target)
        out[name] = {
            "gain": round(c["mean"][-1] - target, 4),
            "samples_to_reach_random": reach,
            "budget_saved": None if reach is None else round(1 - reach / budget, 3),
        }
    return out


def report(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    cur = curves(runs)
    return {
        "runs": {key: {f"round-{r['round']}": r for r in rows} for key, rows in runs.items()},
        "curves": cur,
        "final": {name: c["mean"][-1] for name, c in cur.items()},
        "vs_random": versus_random(cur),
    }


def write_report(
    runs: dict[str, list[dict[str, Any]]],
    metrics_path: str | Path | None,
    plots_dir: str | Path | None = None,
    png: str | Path | None = None,
) -> dict[str, Any]:
    """metrics JSON, one CSV per strategy for `dvc plots` (round, samples, accuracy, min,
    max), and the PNG; returns the report."""
    rep = report(runs)
    if metrics_path:
        write_json(metrics_path, rep)
    if plots_dir:
        write_plot_data(rep["curves"], Path(plots_dir))
    if png:
        plot_curves(rep["curves"], png, _majority(runs))
    return rep


def write_plot_data(cur: dict[str, dict[str, Any]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, c in cur.items():
        with (folder / f"{name}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["round", "samples", "accuracy", "accuracy_min", "accuracy_max"])
            w.writerows(zip(c["round"], c["samples"], c["mean"], c["min"], c["max"], strict=True))


def _majority(runs: dict[str, list[dict[str, Any]]]) -> float | None:
    vals = [r["majority"] for rows in runs.values() for r in rows if r.get("majority") is not None]
    return float(np.mean(vals)) if vals else None


def plot_curves(cur: dict[str, dict[str, Any]], path: str | Path, majority: float | None) -> Path:
    """Accuracy against synthesized samples: mean line, min-max band, one color a strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, c in sorted(cur.items()):
        seeds = f"{c['seeds']} seed{'s' if c['seeds'] > 1 else ''}"
        (line,) = ax.plot(c["samples"], c["mean"], marker="o", label=f"{name} ({seeds})")
        ax.fill_between(c["samples"], c["min"], c["max"], color=line.get_color(), alpha=0.15)
    if majority is not None:
        ax.axhline(majority, color="gray", ls="--", lw=1, label="majority answer")
    ax.set_xlabel("synthesized training samples")
    ax.set_ylabel("test accuracy (probe questions)")
    ax.set_title("Active learning: accuracy vs synthesis budget (mean, min-max band)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
