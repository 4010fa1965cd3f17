"""The experiment's report: accuracy curves against synthesized samples per strategy, the
seed-paired gain of each strategy over random, the metrics JSON, DVC plot data and a PNG.

    rep = report(runs)     # runs: {"hybrid/seed-0": [row of round 0, row of round 1, ...]}
    write_report(runs, "metrics/al_experiment.json", "data/al_experiment/plots", "docs/al.png")

The x axis is `samples`: the synthesized records the round trained on (seed set +
selections + variants), the quantity a synthesis budget pays for; every strategy has the
same count per round up to validator drops. The metrics file (`metrics/al.json` for one
`vit al` run) holds:

    {"runs": {"hybrid/seed-0": {"round-0": {round, samples, images, accuracy, by_type,
                                            by_objects, splits, ...}}},
     "curves": {"hybrid": {"round": [...], "samples": [...], "mean": [...], "min": [...],
                           "max": [...], "std": [...], "seeds": n,
                           "by_objects": [{band: mean accuracy} per round]}},
     "final": {"hybrid": mean accuracy at the last round},
     "vs_random": {"hybrid": {"gain": final - random's final,
                              "samples_to_reach_random": x or null, "budget_saved": 0.4,
                              "paired": {seeds, by_round, final, final_by_seed,
                                         final_by_type: {type: {mean, ci95}},
                                         final_ci95, clear, seeds_for_clear,
                                         item_sd, run_sd, item_share}}}}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vit.active.plots import majority_of, paired_png, plot_curves, plot_paired, write_plot_data
from vit.active.rows import unpack_correct
from vit.records import write_json


def run_key(strategy: str, seed: int) -> str:
    return f"{strategy}/seed-{seed}"


def _by_seed(runs: dict[str, list[dict[str, Any]]], name: str) -> dict[int, list[dict[str, Any]]]:
    """The rows of `name`'s runs by seed."""
    out = {}
    for key, rows in runs.items():
        label, _, seed = key.rpartition("/seed-")
        if label == name:
            out[int(seed)] = rows
    return out


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
            "by_objects": [_crowding_mean([r[k] for r in seed_rows]) for k in range(n)],
        }
    return out


def _common_keys(dicts: Sequence[dict[str, Any]]) -> list[str]:
    """The keys every dict has, in the first one's order (none for no dicts)."""
    if not dicts:
        return []
    return [k for k in dicts[0] if all(k in d for d in dicts[1:])]


def _crowding_mean(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean accuracy per crowding band over rows (bands every row has)."""
    bands = _common_keys([r.get("by_objects") or {} for r in rows])
    return {b: round(float(np.mean([r["by_objects"][b] for r in rows])), 4) for b in bands}


def paired_gain(
    runs: dict[str, list[dict[str, Any]]], strategy: str, baseline: str = "random"
) -> dict[str, Any] | None:
    """The strategy minus the baseline, seed by seed (same seed set, budgets, test split):
    the mean difference at each round both reached and, at the last one, the per-seed
    differences and a 95% t-interval over seeds. The seed-to-seed spread of one run is
    several points here, so a gain is `clear` only when that interval lies above 0."""
    base = _by_seed(runs, baseline)
    pairs = [
        (s, rows, base[s]) for s, rows in sorted(_by_seed(runs, strategy).items()) if s in base
    ]
    if not pairs:
        return None
    n = min(min(len(a), len(b)) for _, a, b in pairs)
    diff = np.array([[a[k]["accuracy"] - b[k]["accuracy"] for k in range(n)] for _, a, b in pairs])
    final = diff[:, -1]
    out: dict[str, Any] = {
        "seeds": [s for s, _, _ in pairs],
        "by_round": _r(diff.mean(0)),
        "final": round(float(final.mean()), 4),
        "final_by_seed": _r(final),
        "final_by_type": _final_by_type([(a[n - 1], b[n - 1]) for _, a, b in pairs]),
    }
    if len(pairs) > 1:
        ci = t_interval(final)
        out["final_ci95"] = ci
        out["clear"] = bool(ci[0] > 0)
        out["seeds_for_clear"] = seeds_for_clear(final)
        out.update(noise_split(final, [(a[n - 1], b[n - 1]) for _, a, b in pairs]))
    return out


def item_variance(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """The variance that the choice of questions puts into one seed's difference a - b:
    var(d_i) / n over the items both rows answered (d_i = right in a - right in b, from
    their `item_correct`), as if the n items were drawn again from the same kind of scenes.
    None when a row has no item record or they were scored on different items."""
    ca, cb = a.get("item_correct"), b.get("item_correct")
    if not ca or not cb or ca["n"] != cb["n"] or a.get("eval_set") != b.get("eval_set"):
        return None
    if ca["n"] < 2:
        return None  # no spread over one item
    d = unpack_correct(ca).astype(float) - unpack_correct(cb).astype(float)
    return float(d.var(ddof=1) / len(d))


def noise_split(
    final: np.ndarray, pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]]
) -> dict[str, Any]:
    """Where the seed-to-seed spread of the final differences comes from: `item_sd`, the
    part that which questions were asked explains (mean `item_variance` over seeds), and
    `run_sd`, the rest (which images, training order, the probes' draws). More seeds shrink
    both; a larger eval set shrinks only the first. {} when a pair has no item record."""
    item = [item_variance(a, b) for a, b in pairs]
    if any(v is None for v in item):
        return {}
    total, item_var = float(final.var(ddof=1)), float(np.mean(item))
    return {
        "item_sd": round(item_var**0.5, 4),
        "run_sd": round(max(0.0, total - item_var) ** 0.5, 4),
        "item_share": round(min(1.0, item_var / total), 3) if total > 0 else None,
    }


MAX_SEEDS = 1000


def seeds_for_clear(values: np.ndarray) -> int | None:
    """How many seeds a difference with this mean and spread needs before its 95% t-interval
    lies above 0: the smallest n with t(0.975, n-1) sd / sqrt(n) < mean. A planning figure
    (it takes the observed mean and sd as the truth) that says whether more seeds can settle
    a comparison: None when the mean is not above 0 or needs more than MAX_SEEDS."""
    from scipy.stats import t

    mean, sd = float(values.mean()), float(values.std(ddof=1))
    if mean <= 0:
        return None
    n = np.arange(2, MAX_SEEDS + 1)
    ok = np.nonzero(t.ppf(0.975, n - 1) * sd / np.sqrt(n) < mean)[0]
    return int(n[ok[0]]) if len(ok) else None


def t_interval(values: np.ndarray) -> list[float]:
    """The 95% t-interval of the mean of `values` (at least two)."""
    from scipy.stats import t

    half = t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return _r(np.array([values.mean() - half, values.mean() + half]))


def _final_by_type(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Where a final gain comes from: per question type, the mean paired difference and,
    over two or more seeds, its 95% t-interval. A type the model answers at chance (here
    left/right and above/below) moves a few points either way with the answer the model
    happens to prefer, which is noise; this is where such a gain shows."""
    types = _common_keys([row.get("by_type") or {} for pair in pairs for row in pair])
    out = {}
    for q in types:
        d = np.array([a["by_type"][q] - b["by_type"][q] for a, b in pairs])
        out[q] = {"mean": round(float(d.mean()), 4)}
        if len(d) > 1:
            out[q]["ci95"] = t_interval(d)
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


def versus_random(
    cur: dict[str, dict[str, Any]], runs: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, dict[str, Any]]:
    """Each strategy against random: final gain, the budget it needs for random's final and,
    given the runs, the seed-paired difference (`paired_gain`). With the runs, random's
    curve is taken over the strategy's own seeds, so a strategy run on fewer seeds is not
    measured against other seed sets' luck."""
    if "random" not in cur:
        return {}
    out = {}
    random_runs = _by_seed(runs, "random") if runs is not None else {}
    for name, c in cur.items():
        if name == "random":
            continue
        base = cur["random"]
        if runs is not None:
            seeds = _by_seed(runs, name)
            same = {run_key("random", s): v for s, v in random_runs.items() if s in seeds}
            base = curves(same).get("random", base)
        target, budget = base["mean"][-1], base["samples"][-1]
        reach = samples_to_reach(c, target)
        out[name] = {
            "gain": round(c["mean"][-1] - target, 4),
            "samples_to_reach_random": reach,
            "budget_saved": None if reach is None else round(1 - reach / budget, 3),
        }
        if runs is not None:
            out[name]["paired"] = paired_gain(runs, name)
    return out


def paired_table(vs: dict[str, dict[str, Any]]) -> str:
    """`vs_random`'s paired gains as a Markdown table in points: per strategy the seeds, the
    final difference, its 95% interval, whether it is clear, and the difference by question
    type (the types every listed strategy has)."""
    rows = {name: v["paired"] for name, v in vs.items() if v.get("paired")}
    if not rows:
        return ""
    types = _common_keys([p["final_by_type"] for p in rows.values()])

    def pts(x: float) -> str:
        return f"{100 * x:+.1f}"

    head = ["minus random, points", "seeds", "final", "95% interval", "clear", "seeds for clear"]
    head += ["sd: items / rest", *types]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, p in rows.items():
        ci = p.get("final_ci95")
        cells = [
            name,
            str(len(p["seeds"])),
            pts(p["final"]),
            f"[{pts(ci[0])}, {pts(ci[1])}]" if ci else "",
            str(p.get("clear", "")),
            _seeds_cell(p),
            _noise_cell(p),
            *(pts(p["final_by_type"][q]["mean"]) for q in types),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if any("item_sd" in p for p in rows.values()):
        lines += ["", NOISE_LEGEND]
    return "\n".join(lines)


NOISE_LEGEND = (
    "sd: items / rest: the spread of one seed's final difference, in points, from which "
    "questions were asked (a denser eval set shrinks it: `eval_per_image`) and from the runs "
    "themselves (only more seeds shrink it)."
)


def _seeds_cell(p: dict[str, Any]) -> str:
    """`seeds_for_clear` for the table: empty over one seed, "never" when not ahead."""
    if "final_ci95" not in p:
        return ""
    n = p.get("seeds_for_clear")
    return "never" if n is None else str(n)


def _noise_cell(p: dict[str, Any]) -> str:
    """`item_sd / run_sd` in points (`noise_split`), empty without item records."""
    if "item_sd" not in p:
        return ""
    return f"{100 * p['item_sd']:.1f} / {100 * p['run_sd']:.1f}"


def report(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    _check_one_test_set(runs)
    cur = curves(runs)
    return {
        "runs": _by_round(runs),
        "curves": cur,
        "final": {name: c["mean"][-1] for name, c in cur.items()},
        "vs_random": versus_random(cur, runs),
    }


def _by_round(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {key: {f"round-{r['round']}": r for r in rows} for key, rows in runs.items()}


def eval_set_of(row: dict[str, Any]) -> tuple[tuple[str, ...], str | None]:
    """What a row was scored on: its held-out splits and its items' fingerprint (None for
    rows made before rows carried one)."""
    return tuple(row.get("splits") or ["test"]), row.get("eval_set")


def _check_one_test_set(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Curves are only comparable on one test set: rows scored on other splits or other
    items are an error (re-running the experiment re-scores the kept models)."""
    seen: dict[tuple, str] = {}
    for key, rows in runs.items():
        for r in rows:
            seen.setdefault(eval_set_of(r), f"{key} round {r['round']}")
    if len(seen) > 1:
        where = "; ".join(f"{w} on {list(s)} items {e}" for (s, e), w in seen.items())
        raise ValueError(
            f"runs scored on different held-out items ({where}): run `vit al experiment` "
            "again with one `eval_splits` to re-score the finished rounds"
        )


def write_report(
    runs: dict[str, list[dict[str, Any]]],
    metrics_path: str | Path | None,
    plots_dir: str | Path | None = None,
    png: str | Path | None = None,
    kept: Sequence[str] = (),
    other: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """metrics JSON, one CSV per strategy for `dvc plots` (round, samples, accuracy, min,
    max), the PNG and beside it `<stem>_paired.png` (`plot_paired`); returns the report.
    `kept`: the keys of runs taken from an earlier report rather than from disk, listed in
    the report as `kept_from_report`. `other`: runs scored on other held-out items,
    recorded under `other_eval_set` and in no curve."""
    rep = report(runs)
    if kept:
        rep["kept_from_report"] = sorted(kept)
    if other:
        rep["other_eval_set"] = _by_round(other)
    if metrics_path:
        write_json(metrics_path, rep)
    if plots_dir:
        write_plot_data(rep["curves"], Path(plots_dir))
    if png:
        plot_curves(rep["curves"], png, majority_of(runs))
        plot_paired(rep["vs_random"], paired_png(png))
    return rep
