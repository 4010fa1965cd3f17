"""How much of a strategy's difference to random is which questions were asked? A denser eval.

    python bench/al_dense_eval.py --strategies random badge --seeds 0 1 2   # score
    python bench/al_dense_eval.py --strategies random badge hybrid --seeds 0 1 2 --report

The experiment's paired differences (`vs_random.<s>.paired`) split their seed-to-seed spread
into `item_sd` (the 1,083 questions asked) and `run_sd` (the rest); on the embedded default
the questions are two thirds of the variance. This scores the kept models of a finished
`vit al experiment` at one round (default: the last) again on a denser set of the same
held-out scenes (`--per-image 20`: more questions of each type about other objects, counts
and pairs, `vit.evaluate.questions.make_eval_set`, which contains the standard set item for
item), and reports each strategy minus random on it with the same statistics. Scoring is
deterministic, so every standard item inside the dense set must be answered as the
experiment's own evaluation answered it; the script checks that for every model before it
uses it. A report made on other dense items (the questions changed) is scored again.

Reports go to OUT/dense-<per_image>/<strategy>/seed-S/eval/ (a model already scored there is not
scored again), the comparison to bench/out/al_dense_eval.json. Run one process per seed
list with OMP_NUM_THREADS=1 to use several cores (`--report` then reads them all).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit.active.curves import curves, paired_table, run_key, versus_random  # noqa: E402
from vit.active.rows import pack_correct  # noqa: E402


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="data/al_experiment_3layer")
    p.add_argument("--strategies", nargs="+", default=["random", "badge", "hybrid"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    p.add_argument("--round", type=int, default=5)
    p.add_argument("--per-image", type=int, default=20)
    p.add_argument("--splits", nargs="+", default=["test", "val"])
    p.add_argument("--report", action="store_true", help="only read what is scored")
    p.add_argument("--out", default="bench/out/al_dense_eval.json")
    return p.parse_args(argv)


def dense_dir(a: argparse.Namespace, strategy: str, seed: int) -> Path:
    """Where the run's dense report goes."""
    return Path(a.experiment) / f"dense-{a.per_image}" / strategy / f"seed-{seed}"


def round_dir(a: argparse.Namespace, strategy: str, seed: int) -> Path:
    """The experiment's own round folder (model, summary, predictions)."""
    return Path(a.experiment) / f"seed-{seed}" / strategy / f"round-{a.round}"


def run_config(a: argparse.Namespace, strategy: str, seed: int) -> dict[str, Any]:
    """The `active` settings the run was made with (its run.json): data, answer length."""
    run = Path(a.experiment) / f"seed-{seed}" / strategy / "run.json"
    return json.loads(run.read_text())["config"]


@functools.cache
def dense_items_stamp(data: str, splits: tuple[str, ...], per_image: int) -> str:
    """The fingerprint of the dense items on `data` (once per data set, not per model): a
    report on other items is redone."""
    from vit.evaluate.questions import items_fingerprint
    from vit.evaluate.run import held_out_items
    from vit.records import Dataset

    return items_fingerprint(held_out_items(Dataset.open(data), splits, per_image))


def score(a: argparse.Namespace, strategy: str, seed: int) -> None:
    """The run's round model on the dense items, asked as the loop asks (its data and answer
    length), unless already scored on these items."""
    from vit.evaluate.questions import FIRST_PASS
    from vit.evaluate.run import evaluate_model

    out, rd = dense_dir(a, strategy, seed), round_dir(a, strategy, seed)
    if not (rd / "model" / "model").is_dir():
        return
    cfg = run_config(a, strategy, seed)
    if cfg["eval_per_image"] < len(FIRST_PASS) or a.per_image <= len(FIRST_PASS):
        # Only a set of 6 per scene is the first pass of a denser one (make_eval_set).
        raise SystemExit(
            f"{strategy} seed {seed}: scored with eval_per_image {cfg['eval_per_image']}; a "
            f"dense set ({a.per_image} per scene) contains only a set of {len(FIRST_PASS)}"
        )
    done = out / "eval" / "eval.json"
    stamp = dense_items_stamp(cfg["data"], tuple(a.splits), a.per_image)
    if done.exists() and json.loads(done.read_text())["eval_set"] == stamp:
        return
    evaluate_model(
        rd / "model" / "model",
        cfg["data"],
        out / "eval",
        split=a.splits,
        per_image=a.per_image,
        max_new_tokens=cfg["eval_max_new_tokens"],
        blind=False,
    )
    print(f"scored {strategy} seed {seed}", flush=True)


def dense_row(a: argparse.Namespace, strategy: str, seed: int) -> dict[str, Any] | None:
    """The dense report as a curve row, after checking its standard items against the
    experiment's own score of the same model."""
    out, rd = dense_dir(a, strategy, seed), round_dir(a, strategy, seed)
    if not (out / "eval" / "eval.json").exists():
        return None
    rep = json.loads((out / "eval" / "eval.json").read_text())
    dense, own = _answers(out / "eval"), _answers(rd / "eval")
    differ = [i for i, right in own.items() if dense.get(i) != right]
    if differ:
        raise SystemExit(
            f"{strategy} seed {seed}: {len(differ)} of the experiment's {len(own)} items "
            f"answered otherwise here (first {differ[0]}): not the same scoring"
        )
    summary = json.loads((rd / "summary.json").read_text())
    return {
        "round": a.round,
        "samples": summary["samples"],
        "accuracy": rep["overall"]["tuned"],
        "by_type": {t: v.get("tuned") for t, v in rep["by_type"].items()},
        "by_objects": {b: v["accuracy"] for b, v in rep["by_objects"].items()},
        "eval_set": rep["eval_set"],
        "n_items": len(dense),
        "item_correct": pack_correct(list(dense.values())),  # in the predictions' order
    }


def _answers(eval_dir: Path) -> dict[str, bool]:
    """{item id: answered right} of an evaluation folder's predictions."""
    rows = [json.loads(x) for x in (eval_dir / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: bool(r["correct"]) for r in rows}


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if not a.report:
        for seed in a.seeds:
            for strategy in a.strategies:
                score(a, strategy, seed)
        return 0
    runs = {}
    for strategy in a.strategies:
        for seed in a.seeds:
            row = dense_row(a, strategy, seed)
            if row is not None:
                runs[run_key(strategy, seed)] = [row]
    vs = versus_random(curves(runs), runs)
    print(
        f"{a.per_image} questions per scene at most, round {a.round}:",
        {k: v[0]["n_items"] for k, v in list(runs.items())[:1]},
    )
    print(paired_table(vs))
    for name, v in vs.items():
        p = v["paired"]
        print(name, "per seed", [round(100 * x, 1) for x in p["final_by_seed"]])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(
        json.dumps({"per_image": a.per_image, "round": a.round, "vs_random": vs}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
