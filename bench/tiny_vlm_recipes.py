"""Which training recipe makes the tiny from-scratch LLaVA look at the image (issue 5).

    python bench/tiny_vlm_recipes.py --scenes 8000 --steps 2000 --recipes base,short,patch

Generates `--scenes` embedded scenes (seed 7, no defects), writes LLaVA's instruction types
with the grounded teacher (2 per image from the default conversation/detail/reasoning mix,
and separately 2 `short` conversations per image), then trains one
model per recipe from the same init and scores it on the demo's held-out test split
(`data/deduped/scenes`, run `make demo` first) with the per-type exact match, the majority
baseline and the blind (gray image) run:

- `base`: LLaVA's three types only;
- `short`: + two `short` conversations per image (one-word answers, VQA-style);
- `patch`: `short` + the dense grounding loss (lambda_patch = 1, vit.train.patch_head).

Prints one line per recipe and writes bench/out/tiny_vlm_recipes.json. About 10 minutes per
recipe at 2,000 steps on 2 CPU cores, plus the synthesis (several minutes at 8,000 scenes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_data(work: Path, n: int) -> tuple[Path, Path]:
    """(base dataset, base + short dataset) synthesized for `n` fresh scenes."""
    from vit.ingest import ingest
    from vit.records import Dataset, write_dataset
    from vit.sources.scenes import generate_scenes
    from vit.synth.config import SynthConfig
    from vit.synth.run import synthesize

    raw, ing = work / "raw", work / "ingested"
    if not (raw / "scenes.jsonl").exists():
        generate_scenes(raw, n=n, seed=7, defect_rate=0.0)
    if not ing.exists():
        ingest("vitflow", raw / "scenes.jsonl", ing)
    cache = str(work / "cache")
    base, only_short, both = work / "synth_base", work / "synth_short_only", work / "synth_short"
    if not (base / "vitflow.json").exists():  # LLaVA's mix, two instructions per image
        synthesize(ing, base, SynthConfig(per_image=2, cache_dir=cache))
    if not (only_short / "vitflow.json").exists():
        synthesize(ing, only_short, SynthConfig(n_per_type={"short": 2}, cache_dir=cache))
    if not (both / "vitflow.json").exists():
        a, b = Dataset.open(base), Dataset.open(only_short)
        write_dataset(both, [*a, *b], image_root=a.image_root)
    return base, both


def run_recipe(name: str, data: Path, lambda_patch: float, steps: int, work: Path) -> dict:
    from flows.train import corpus
    from vit.evaluate.run import evaluate_model
    from vit.model.build import build_model
    from vit.model.config import ModelConfig
    from vit.train.config import TrainConfig
    from vit.train.run import train

    out = work / "runs" / name
    init = build_model(ModelConfig(), corpus(str(data)), out / "init")
    cfg = TrainConfig(
        stage="instruct",
        max_steps=steps,
        lr=1e-3,
        batch_size=16,
        eval_steps=10**6,
        save_steps=10**6,
        early_stopping_patience=0,
        resume="never",
        lambda_patch=lambda_patch,
    )
    t0 = time.time()
    summary = train(str(init), str(data), str(out / "instruct"), cfg)
    secs = time.time() - t0
    report = evaluate_model(
        out / "instruct" / "model", ROOT / "data/deduped/scenes", out / "eval", per_image=6
    )
    by_type = {t: v["tuned"] for t, v in report["by_type"].items()}
    return {
        "recipe": name,
        "steps": steps,
        "train_seconds": round(secs, 1),
        "train_loss": summary["train_loss"],
        "overall": report["overall"],
        "tuned": by_type,
        "blind": {t: v["blind"] for t, v in report["by_type"].items()},
        "majority": {t: v["majority"] for t, v in report["by_type"].items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--recipes", default="base,short,patch")
    ap.add_argument("--work", default=str(ROOT / "bench/out/tiny_vlm"))
    args = ap.parse_args()
    work = Path(args.work)
    base, short = make_data(work, args.scenes)
    recipes = {"base": (base, 0.0), "short": (short, 0.0), "patch": (short, 1.0)}
    results = []
    for name in args.recipes.split(","):
        data, lp = recipes[name]
        r = run_recipe(name, data, lp, args.steps, work)
        results.append(r)
        o = r["overall"]
        print(
            f"{name:6s} overall {o['tuned']:.3f} (blind {o['blind']:.3f}, majority "
            f"{o['majority']:.3f}) {r['train_seconds']:.0f} s  "
            + " ".join(f"{t} {v:.2f}" for t, v in r["tuned"].items())
        )
    path = ROOT / "bench/out/tiny_vlm_recipes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
