"""Prefect flows for active learning (`vit al`, `vit al experiment`; the `active-learning`
deployment in prefect.yaml).

    vit al                                   # params.yaml `active`: strategy, budget, rounds...
    vit al --set strategy=uncertainty --set rounds=5
    vit al experiment --seeds 0 1            # every strategy, same seed sets and test split

The loop itself is vit/active/loop.py; this flow only runs each of its phases as a Prefect
task (score, select, synth, review, train, evaluate, hard; one task run per phase and round,
named `<phase>-round-K`), so the UI shows where a round is and a failed phase is visible.
The synth task carries the `llm` tag and retries like the synthesize flow's; the others do
not retry (local, deterministic: a retry would fail the same way, and a rerun of the flow
resumes from the files). The experiment runs each (strategy, seed) as a subflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from vit.active.config import ActiveConfig
from vit.active.curves import paired_table, run_key, write_report
from vit.active.experiment import (
    run_experiment,
    runs_in_report,
    runs_on_disk,
    split_by_eval_set,
)
from vit.active.loop import run_loop
from vit.active.plots import write_plot_data
from vit.active.rows import eval_set_for
from vit.config import build, load_params
from vit.evaluate.run import object_counts
from vit.records import Dataset
from vit.synth.config import SynthConfig

EXPERIMENT_DEFAULTS = {
    "strategies": ["random", "uncertainty", "diversity", "hybrid"],
    "seeds": [0, 1],
    "out": "data/al_experiment",
    "metrics_path": "metrics/al_experiment.json",
    "png": "docs/al_curves.png",
    "set": {},  # ActiveConfig fields for the experiment's runs only, over `active`
    "variants": {},  # name -> ActiveConfig fields: a configured strategy run under its name
}


def load_config(
    params_path: str, overrides: dict[str, Any] | None, experiment: bool = False
) -> tuple[ActiveConfig, SynthConfig, dict[str, Any]]:
    """(ActiveConfig from `active` + overrides, SynthConfig from `synthesize` + active.synth,
    the experiment settings from `al_experiment`). With `experiment`, the experiment's
    own `set` comes between `active` and the overrides (e.g. more rounds than the demo's
    loop; the command line's --set wins over both). The experiment has its own section so
    that editing it leaves the `active` DVC stage (the demo's loop) up to date; an
    `experiment` inside `active`, where it used to be, is still read."""
    params = load_params(params_path)
    section = dict(params.get("active") or {})
    exp = {
        **EXPERIMENT_DEFAULTS,
        **(section.pop("experiment", None) or {}),
        **(params.get("al_experiment") or {}),
    }
    fields = {**section, **(exp["set"] if experiment else {}), **(overrides or {})}
    cfg = build(ActiveConfig, fields, f"{params_path}: active")
    # The loop's own generation cache (inside its DVC output), unless active.synth names one:
    # the synthesize stage's cache is that stage's output, which another stage must not touch.
    synth = {**(params.get("synthesize") or {}), "cache_dir": f"{cfg.out}/synth_cache"}
    synth.update(cfg.synth)
    synth.pop("metrics_path", None)  # the stage's metrics file is not the loop's
    return cfg, SynthConfig.from_dict(synth), exp


def _call(phase: str, fn: Callable[[int], Any], k: int) -> Any:
    """One phase of one round as a Prefect task run."""
    opts: dict[str, Any] = {"name": f"al-{phase}", "cache_policy": NO_CACHE}
    if phase == "synth":
        opts.update(retries=2, retry_delay_seconds=10, retry_jitter_factor=0.5, tags=["llm"])

    def phase_fn(k: int) -> Any:
        return fn(k)

    return task(phase_fn, task_run_name=f"{phase}-round-{k}", **opts)(k)


@flow(name="active-learning", log_prints=True)
def active_learning(
    params_path: str = "params.yaml",
    overrides: dict[str, Any] | None = None,
    seed_round: str | None = None,
    hard_last: bool = False,
) -> dict[str, Any]:
    """Score the pool with the tuned model, select, synthesize, review, retrain, evaluate;
    `rounds` times after a seed round. Writes OUT/round-K and metrics/al.json."""
    cfg, synth, _ = load_config(params_path, overrides)
    key = run_key(cfg.label, cfg.seed)

    def on_round(rows: list[dict[str, Any]]) -> None:
        if cfg.metrics_path:  # + OUT/plots/curve.csv, the `dvc plots` data of this run
            rep = write_report({key: rows}, cfg.metrics_path)
            write_plot_data({"curve": rep["curves"][cfg.label]}, Path(cfg.out) / "plots")

    rows = run_loop(cfg, synth, seed_round, call=_call, on_round=on_round, hard_last=hard_last)
    for r in rows:
        print(
            f"{key} round {r['round']}: {r['samples']} samples on {r['images']} images, "
            f"accuracy {r['accuracy']:.3f} (majority {r['majority']})"
        )
    return {"run": key, "rows": rows}


def write_experiment_report(
    exp: dict[str, Any],
    runs: dict[str, list[dict]],
    current: tuple[tuple[str, ...], str],
    names: Sequence[str] = (),
    seeds: Sequence[int] = (),
    fresh: bool = False,
) -> dict[str, Any]:
    """The experiment's metrics JSON, per-strategy CSVs and PNG, where `al_experiment` says.
    Runs of `names` x `seeds` (default: the experiment's) that the earlier report records
    and `runs` lacks stay in it, listed as `kept_from_report`; `fresh` drops them. Runs not
    scored on `current` (splits, items' fingerprint: `rows.eval_set_for`) join no curve:
    they are recorded under `other_eval_set`, and those on disk are named in a warning."""
    names = list(names or exp["strategies"])
    seeds = list(seeds or exp["seeds"])
    earlier = {} if fresh else runs_in_report(exp["metrics_path"] or "", names, seeds)
    every = {**{k: v for k, v in earlier.items() if k not in runs}, **runs}
    same, other = split_by_eval_set(every, current)
    if stale := sorted(k for k in other if k in runs):
        print(
            f"warning: {', '.join(stale)} were scored on other held-out items and join no "
            "curve; `vit al experiment --strategies S --seeds N` scores their kept models again"
        )
    if not same:
        raise ValueError(
            f"no runs of {names} x seeds {seeds} scored on today's held-out items "
            f"({list(current[0])}, {current[1]}) on disk or in the report"
        )
    kept = sorted(k for k in same if k not in runs)
    out = exp["metrics_path"], f"{exp['out']}/plots", exp["png"]
    return write_report(same, *out, kept, other)


@flow(name="active-learning-experiment", log_prints=True)
def active_learning_experiment(
    params_path: str = "params.yaml",
    overrides: dict[str, Any] | None = None,
    strategies: list[str] | None = None,
    seeds: list[int] | None = None,
) -> dict[str, Any]:
    """Every strategy from the same seed sets, over several seeds: metrics, plot data, PNG."""
    cfg, _, exp = load_config(params_path, overrides, experiment=True)
    strategies = list(strategies or exp["strategies"])
    seeds = [int(s) for s in (seeds if seeds is not None else exp["seeds"])]
    # One generation cache for every run: a variant two strategies both ask for is paid once.
    cfg = replace(cfg, synth={"cache_dir": f"{exp['out']}/synth_cache", **cfg.synth})

    def run_one(c: ActiveConfig, seed_round: str | None, hard_last: bool) -> list[dict]:
        sub = active_learning.with_options(flow_run_name=f"{c.label}-seed-{c.seed}")
        return sub(params_path, asdict(c), seed_round, hard_last)["rows"]

    # The experiment's other runs on disk (other strategies or seeds, often run as other
    # processes) stay in the report: a run of a few must not drop the rest from it.
    names = list(dict.fromkeys([*exp["strategies"], *strategies]))
    every_seed = sorted({*map(int, exp["seeds"]), *seeds})
    ds = Dataset.open(cfg.data)
    n_objects = object_counts(ds)  # read once, not at every report
    # Only rounds scored on today's items join a curve: a report written while other runs
    # on disk still carry older scores sets those aside instead of failing the experiment.
    current = eval_set_for(cfg, ds)

    def report(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        known = runs_on_disk(exp["out"], names, every_seed, n_objects)
        return write_experiment_report(exp, {**known, **runs}, current, names, every_seed)

    runs = run_experiment(
        cfg, None, strategies, seeds, exp["out"], run_one, report, exp["variants"]
    )
    rep = report(runs)
    for name, c in rep["curves"].items():
        print(
            f"{name}: samples {c['samples']} accuracy {c['mean']} (min {c['min']}, max {c['max']})"
        )
    print(f"against random: {rep['vs_random']}")
    print(paired_table(rep["vs_random"]))
    return {k: rep[k] for k in ("curves", "final", "vs_random")}
