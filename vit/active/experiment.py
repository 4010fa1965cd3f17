"""Every strategy from the same seed sets, budgets and test split, over several seeds.

    runs = run_experiment(cfg, synth, ["random", "hybrid"], seeds=[0, 1], out="data/al_experiment")
    runs = runs_on_disk("data/al_experiment", ["random", "hybrid"], [0, 1])  # seeds run apart
    kept = runs_in_report("metrics/al_experiment.json", ["random", "hybrid"], [0, 1])
    write_report(runs, "metrics/al_experiment.json", "data/al_experiment/plots", "docs/al.png")

Per seed, round 0 (the seed set, its training and its hard-example variants) is computed
once in OUT/seed-S/seed and every strategy continues from it (OUT/seed-S/<strategy>), so
the strategies differ only in what they select. A name in the strategy list may be a
variant (a strategy with its own settings, run under the name). The report (curves,
seed-paired gains, plots) is `vit.active.curves`; it is the experiment's ledger: a run it
records whose folders are not on this machine (made elsewhere, or removed to save space)
stays in it (`runs_in_report`) until a run on disk replaces it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vit.active import data as al_data
from vit.active.config import ActiveConfig
from vit.active.curves import eval_set_of, run_key
from vit.active.rows import crowding_from_round, item_correct, unpack_correct

RunOne = Callable[[ActiveConfig, str | None, bool], list[dict[str, Any]]]
Runs = dict[str, list[dict[str, Any]]]  # run key (`strategy/seed-S`) -> its rows


def run_experiment(
    cfg: ActiveConfig,
    synth: Any,
    strategies: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    run_one: RunOne | None = None,
    on_run: Callable[[dict[str, list[dict[str, Any]]]], None] | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows per run key (`strategy/seed-S`). `run_one(cfg, seed_round, hard_last)` runs one
    loop (default: `run_loop` here; a Prefect subflow in flows/active.py); `on_run(runs)`
    sees the runs so far after each one (to write the report as it grows). A name in
    `strategies` may be one of `variants` (name -> ActiveConfig fields, e.g.
    `{"uncertainty-loss": {"strategy": "uncertainty", "measure": "loss"}}`): that strategy,
    so configured, runs under the name (its folder and its curve)."""
    from vit.active.loop import run_loop

    def direct(c: ActiveConfig, seed_round: str | None, hard_last: bool) -> list[dict]:
        return run_loop(c, synth, seed_round=seed_round, hard_last=hard_last)

    run_one = run_one or direct
    out = Path(out)
    named = {name: variant_config(cfg, name, variants or {}) for name in strategies}
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        base = replace(cfg, seed=seed, metrics_path="")
        seed_out = out / f"seed-{seed}"
        run_one(replace(base, strategy="random", rounds=0, out=str(seed_out / "seed")), None, True)
        for name in strategies:
            c = replace(named[name], seed=seed, metrics_path="", out=str(seed_out / name))
            runs[run_key(name, seed)] = run_one(c, str(seed_out / "seed" / "round-0"), False)
            if on_run is not None:
                on_run(runs)
    return runs


def variant_config(
    cfg: ActiveConfig, name: str, variants: Mapping[str, Mapping[str, Any]]
) -> ActiveConfig:
    """`cfg` for the experiment's entry `name`: a strategy name, or a variant's fields. A
    dict field (`synth`, `train`) is merged over the experiment's, not swapped for it: a
    variant's `synth: {n_per_type: ...}` keeps the experiment's own synth cache."""
    if name not in variants:
        return replace(cfg, strategy=name, name="")
    fields = dict(variants[name])
    unknown = sorted(set(fields) - set(cfg.__dataclass_fields__))
    if unknown:
        raise ValueError(f"al_experiment.variants.{name}: unknown fields {unknown}")
    for k, v in fields.items():
        if isinstance(v, Mapping) and isinstance(getattr(cfg, k), Mapping):
            fields[k] = {**getattr(cfg, k), **v}
    return replace(cfg, **fields, name=name)


def runs_on_disk(
    out: str | Path,
    strategies: Sequence[str],
    seeds: Sequence[int],
    n_objects: Mapping[str, int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The rows `run_experiment` returns, read back from the rounds' summary.json files, so
    seeds run as separate processes (one thread each) merge into one report. A strategy
    folder whose rounds were not made from this seed round (its run.json names another),
    that has no finished round, or that a live process is still running (`OUT/RUNNING`:
    its half-made curve would be compared at the round it has reached) is left out. With
    `n_objects` (test record id -> boxed objects), a row written before rows had
    `by_objects` gets it from its predictions."""
    out = Path(out)
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        base = out / f"seed-{seed}" / "seed"
        first = base / "round-0" / "summary.json"
        if not first.exists():
            continue
        seed_row = _read_row(base / "round-0", n_objects)
        seed_run = (base / "run.json").read_text() if (base / "run.json").exists() else ""
        for strategy in strategies:
            folder = out / f"seed-{seed}" / strategy
            stamp = folder / "run.json"
            if not stamp.exists() or json.loads(stamp.read_text()).get("seed_run") != seed_run:
                continue
            if al_data.is_running(folder):
                continue  # half made by another process: reported when it has finished
            done = [p for p in folder.glob("round-*") if (p / "summary.json").exists()]
            done.sort(key=lambda p: int(p.name.split("-")[1]))
            if done:
                rows = [_read_row(p, n_objects) for p in done]
                runs[run_key(strategy, seed)] = [seed_row, *rows]
    return runs


def _read_row(round_dir: Path, n_objects: Mapping[str, int] | None) -> dict[str, Any]:
    row = json.loads((round_dir / "summary.json").read_text())
    if "item_correct" not in row:  # rows written before they carried it
        row["item_correct"] = _matching(item_correct(round_dir), row.get("accuracy"))
    if not row.get("by_objects") and n_objects:
        back = crowding_from_round(round_dir, n_objects)
        if back is not None:
            row["by_objects"] = back
    return row


def _matching(packed: dict[str, Any] | None, accuracy: float | None) -> dict[str, Any] | None:
    """`packed` when its share of right answers is the row's accuracy (to its 4 decimals):
    predictions rewritten after the row (a re-score killed before its summary) are not it."""
    if packed is None or accuracy is None:
        return None
    return packed if abs(unpack_correct(packed).mean() - accuracy) <= 6e-5 else None


def runs_in_report(
    path: str | Path, strategies: Sequence[str], seeds: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """The rows of the runs of `strategies` x `seeds` that an earlier report (the metrics
    JSON at `path`) records, in round order; {} when there is no report."""
    path = Path(path)
    if not path.is_file():
        return {}
    rep = json.loads(path.read_text())
    # Runs set aside as scored on other items stay candidates: they keep their record.
    recorded = {**rep.get("other_eval_set", {}), **rep.get("runs", {})}
    out = {}
    for strategy in strategies:
        for seed in seeds:
            rounds = recorded.get(run_key(strategy, seed))
            if rounds:
                out[run_key(strategy, seed)] = sorted(rounds.values(), key=lambda r: r["round"])
    return out


def split_by_eval_set(runs: Runs, current: tuple[tuple[str, ...], str]) -> tuple[Runs, Runs]:
    """`runs` as (those every row of which was scored on `current`, the held-out splits and
    items' fingerprint of today's rounds (`rows.eval_set_for`), the rest). The rest joins
    no curve; a run on disk is scored again by running it again (its models are kept), and
    one from the ledger whose models are gone stays recorded under `other_eval_set`: a
    changed eval set does not erase a ledger."""
    same = {k: v for k, v in runs.items() if all(eval_set_of(r) == current for r in v)}
    return same, {k: v for k, v in runs.items() if k not in same}
