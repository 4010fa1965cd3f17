"""What one instruct-stage training step costs on the CPU, with and without the encode cache.

    python bench/train_step.py                      # the demo's data and stage-1 model
    python bench/train_step.py --steps 300 --text-layers 3

Runs `vit.train.train` twice in this process from the same model on the same data with the
same settings (the demo's `train_instruct` section, `--steps` optimizer steps): once with
the collator's encode cache off (`encode_cache: 0`, every example re-rendered through the
chat template, as before the cache) and once on (the default). Prints seconds per step of
each and the ratio, checks the two runs end with the same weights (the cache must not
change what is learned), and writes bench/out/train_step.json. `--text-layers N` rebuilds
the language model at N layers from config (random weights) to time a deeper one.
The speedup grows with the epochs a run makes: the first pass over the data fills the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_model(model: str, text_layers: int, work: Path) -> str:
    """The model to train: `model` itself, or a copy with a deeper random language model."""
    if text_layers <= 0:
        return model
    import shutil

    import torch
    from transformers import LlavaForConditionalGeneration

    from vit.model.build import CONFIG_FILE, load_model

    old, processor = load_model(model, device="cpu", dtype="float32")
    cfg = old.config
    cfg.text_config.num_hidden_layers = text_layers
    torch.manual_seed(0)
    out = work / f"init-{text_layers}"
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    processor.save_pretrained(out)
    if (Path(model) / CONFIG_FILE).exists():  # says "from scratch": everything learns
        shutil.copy(Path(model) / CONFIG_FILE, out / CONFIG_FILE)
    return str(out)


def timed_run(model: str, data: str, out: Path, steps: int, cache: int) -> tuple[float, object]:
    from vit.config import build, section
    from vit.train import TrainConfig, train

    cfg = build(TrainConfig, section("train_instruct"))
    cfg.max_steps, cfg.encode_cache, cfg.resume = steps, cache, "never"
    cfg.eval_steps = cfg.save_steps = steps  # one evaluation and save at the end, as both runs
    t0 = time.perf_counter()
    train(model, data, str(out), cfg)
    return time.perf_counter() - t0, out / "model"


def same_weights(a: Path, b: Path) -> float:
    """Largest absolute difference between the two exported models' tensors."""
    from safetensors.torch import load_file

    x, y = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return max(float((x[k] - y[k]).abs().max()) for k in x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="data/model/align/model")
    ap.add_argument("--data", default="data/synth/scenes")
    ap.add_argument("--steps", type=int, default=1000, help="optimizer steps per run")
    ap.add_argument("--text-layers", type=int, default=0, help="> 0: rebuild the LM this deep")
    ap.add_argument("--work", default="bench/out/train_step")
    args = ap.parse_args()
    work = Path(args.work)
    model = start_model(args.model, args.text_layers, work)
    timed_run(model, args.data, work / "warm-up", 5, 0)  # imports and first-call costs
    off, off_model = timed_run(model, args.data, work / "cache-off", args.steps, 0)
    on, on_model = timed_run(model, args.data, work / "cache-on", args.steps, 100_000)
    diff = same_weights(off_model, on_model)
    res = {
        "steps": args.steps,
        "text_layers": args.text_layers or "as the model",
        "s_per_step_cache_off": round(off / args.steps, 4),
        "s_per_step_cache_on": round(on / args.steps, 4),
        "speedup": round(off / on, 3),
        "max_weight_difference": diff,
    }
    print(f"cache off  {off:7.1f} s  {off / args.steps:.4f} s/step")
    print(f"cache on   {on:7.1f} s  {on / args.steps:.4f} s/step")
    print(f"speedup    {off / on:.2f}x   max weight difference {diff:.2e}")
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    Path("bench/out/train_step.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
