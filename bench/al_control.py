"""Is an active-learning experiment limited by data or by optimizer steps? The control.

    python bench/al_control.py --seed 0 --strategy random      # after `vit al experiment`
    python bench/al_control.py --params my.yaml --seed 1 --set epochs=3
    python bench/al_control.py --experiment data/al_experiment --set epochs=0 --rescore

Reads a finished `vit al experiment` folder (`al_experiment.out` of the params file,
`al_experiment.set` and then `--set` override `active` fields, as for the experiment). For seed S it continues from the
shared seed round, as every strategy does, but adds no new images: round k trains the
previous round's model on the seed round's records and hard variants only, for exactly the
optimizer steps the given strategy's round k trained, with the same settings, and is
scored on the same test items. Where this control ends as high as the strategy, the rounds
are limited by steps, not by data, and no selection strategy can show a gain (README,
"Active learning"). `--rescore` scores the strategy's round models again, for an experiment
evaluated before the evaluation changed. Prints both curves and writes
bench/out/al_control_seed-S.json.
The control's rounds go to OUT/seed-S/control-<strategy>.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit.active.config import ActiveConfig  # noqa: E402
from vit.active.data import DONE, count_summary  # noqa: E402
from vit.active.loop import Loop  # noqa: E402
from vit.records import Dataset, Record  # noqa: E402


class SeedOnly(Loop):
    """Rounds 1..R of a loop that selects nothing: the seed round's data, matched steps."""

    def __init__(self, cfg: ActiveConfig, seed_round: Path, matched: dict[int, int]) -> None:
        super().__init__(cfg, None, seed_round)
        self.matched = matched

    def train_set(self, k: int) -> list[Record]:
        recs = list(Dataset.open(self.dir(0) / "train"))
        extras = self.dir(0) / "extras"
        return recs + (list(Dataset.open(extras)) if (extras / "vitflow.json").exists() else [])

    def steps(self, k: int, n_records: int) -> int:
        return self.matched[k]


def matched_steps(strategy_dir: Path) -> dict[int, int]:
    """{round: optimizer steps} of a finished strategy run (its model/DONE files)."""
    out = {}
    for d in strategy_dir.glob("round-*"):
        done = d / "model" / DONE
        if done.exists():
            out[int(d.name.split("-")[1])] = int(json.loads(done.read_text())["global_step"])
    return dict(sorted(out.items()))


def row(loop: Loop, k: int) -> dict[str, Any]:
    report = json.loads((loop.dir(k) / "eval.json").read_text())
    done = json.loads((loop.dir(k) / "model" / DONE).read_text())
    return {
        "round": k,
        "steps": done.get("global_step"),
        **count_summary(list(Dataset.open(loop.dir(k) / "train"))),
        "accuracy": report["overall"]["tuned"],
        "by_type": {t: v.get("tuned") for t, v in report["by_type"].items()},
    }


def run_control(
    cfg: ActiveConfig, exp_out: str | Path, seed: int, strategy: str, rescore: bool = False
) -> dict:
    """Train and score the control for `seed` beside `strategy`'s finished rounds (their
    stored accuracies, or with `rescore` their models scored again as the control is)."""
    seed_dir = Path(exp_out) / f"seed-{seed}"
    matched = matched_steps(seed_dir / strategy)
    matched.pop(0, None)  # round 0 is the shared seed round itself
    if not matched:
        raise SystemExit(f"{seed_dir / strategy}: no finished rounds to match (run the experiment)")
    c = replace(cfg, seed=seed, metrics_path="", out=str(seed_dir / f"control-{strategy}"))
    loop = SeedOnly(c, seed_dir / "seed" / "round-0", matched)
    loop.prepare()
    control = []
    for k in matched:
        loop.train(k)
        loop.evaluate(k)
        control.append(row(loop, k))
    theirs = []
    for k in matched:
        summary = json.loads((seed_dir / strategy / f"round-{k}" / "summary.json").read_text())
        keep = ("round", "steps", "samples", "images", "accuracy", "by_type")
        theirs.append({key: summary.get(key) for key in keep})
        if rescore:  # the strategy's round model, scored by today's evaluation as the control is
            theirs[-1]["accuracy"] = rescored(loop, seed_dir / strategy / f"round-{k}", k)
    return {"seed": seed, "strategy": strategy, "control": control, strategy: theirs}


def rescored(loop: Loop, round_dir: Path, k: int) -> float:
    """Overall accuracy of a finished round's model under the current evaluation (for
    experiments scored before it changed), written next to the control's rounds."""
    report = loop.score_model(round_dir / "model" / "model", loop.out / f"rescored-round-{k}")
    return report["overall"]["tuned"]


def main(argv: list[str] | None = None) -> int:
    import yaml

    from flows.active import load_config

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategy", default="random", help="whose steps the control matches")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="override `active`")
    ap.add_argument("--experiment", help="experiment folder (default: al_experiment.out)")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="score the strategy's round models again with today's evaluation",
    )
    ap.add_argument("--out", help="JSON path (default bench/out/al_control_seed-S.json)")
    args = ap.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set or [])}
    cfg, _, exp = load_config(args.params, overrides, experiment=True)
    res = run_control(cfg, args.experiment or exp["out"], args.seed, args.strategy, args.rescore)
    for mine, theirs in zip(res["control"], res[args.strategy], strict=True):
        print(
            f"round {mine['round']}: {mine['steps']} steps | control (seed set only, "
            f"{mine['images']} images) {mine['accuracy']:.3f} | {args.strategy} "
            f"({theirs['images']} images) {theirs['accuracy']:.3f}"
        )
    path = Path(args.out or ROOT / "bench" / "out" / f"al_control_seed-{args.seed}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
