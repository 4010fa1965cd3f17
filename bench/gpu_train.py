"""Training throughput and MFU of a real-size LLaVA on one GPU: LLaVA-1.5's recipe vs vitflow's.

    python bench/gpu_train.py                      # GPU: CLIP ViT-L/14-336 + TinyLlama-1.1B dims
    python bench/gpu_train.py --lm qwen0.5b --compile --out bench/out/gpu_train_qwen.json
    python bench/gpu_train.py --tiny               # CPU smoke run (CI): tiny dims, float32

The model is `LlavaForConditionalGeneration` built from config with random weights (nothing
is downloaded): a CLIP ViT-L/14-336 tower (feature layer -2, CLS dropped: 576 image tokens),
LLaVA-1.5's gelu 2-layer projector and a Llama-style LM (`--lm`). Each batch is synthetic:
random pixels, 576 image tokens then random text up to `--seq-len`, labels masked (-100) on
the image positions. Both recipes run in one process on the same config and batch:

- `baseline`, LLaVA-1.5-style: fp32 master weights under bf16 autocast, flash attention
  (torch SDPA; LLaVA's train_mem.py asks for flash_attention_2), gradient checkpointing (as
  LLaVA's scripts), `torch.optim.AdamW` (foreach); `baseline-eager` the same, eager attention;
- `vitflow`: fp32 master weights under bf16 autocast (`--vitflow-weights bf16` for pure bf16),
  SDPA attention (flash kernels), fused AdamW, no checkpointing, `torch.compile` if `--compile`.

A step is forward + backward + optimizer step + zero_grad; `--warmup` steps, then `--steps`
timed ones between `torch.cuda.synchronize()` calls, stopping early when a recipe's share of
`--time-limit` is spent. Reported per recipe: params (total, vision, projector, lm), tokens
per step (batch x seq-len, image tokens included), step time, tokens/s, peak memory and

    MFU = 6 x total_params x tokens_per_s / peak_flops

(peak: bf16 dense of the GPU, looked up from its name, or `--peak-tflops`). `mfu_split`
counts the vision tower and projector only on their own 577/576 positions per image. The
table is printed, the JSON goes to `--out` with date, GPU and versions; put the MFU of both
recipes in the README with that date and GPU. LLaVA-1.5's recipe is at about 23-25%, the
target is >= 35%. Any recipe failing (CUDA OOM included) is reported in the table and JSON
and makes the exit status 1; `--compile` spends its compile time inside the warmup, which
counts against `--time-limit` (default 240 s for all recipes, imports not included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or loaded by path

from gpu_llava import (  # noqa: E402
    LM_PRESETS,
    Recipe,
    build_model,
    image_token_count,
    llava_config,
    loss_fn,
    make_optimizer,
    mfu,
    mfu_split,
    param_counts,
    peak_flops_for,
    recipes,
    synthetic_batch,
    train_step,
)

PROFILES = {  # defaults for the flags left unset
    "full": dict(batch_size=8, seq_len=2048, warmup=3, steps=10),
    "tiny": dict(batch_size=2, seq_len=32, warmup=1, steps=2),
}


def device_name(device: str) -> str:
    import torch

    return "cpu" if device == "cpu" else torch.cuda.get_device_name()


def sync(device: str) -> None:
    import torch

    if device != "cpu":
        torch.cuda.synchronize()


def timed_steps(step: Any, n: int, deadline: float, device: str) -> list[float]:
    """Seconds of each of up to `n` steps; stops after the first past `deadline`."""
    times: list[float] = []
    for _ in range(n):
        sync(device)
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
        if time.perf_counter() > deadline:
            break
    return times


def run_recipe(recipe: Recipe, cfg: Any, args: argparse.Namespace, deadline: float) -> dict:
    """Build, warm up and time one recipe; returns its measurements."""
    import torch

    device, t0 = args.device, time.perf_counter()
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    model = build_model(cfg, recipe, device)
    counts = param_counts(model)
    opt = make_optimizer(model, recipe)
    autocast = device != "cpu" and recipe.weights == "fp32"
    forward = loss_fn(model, autocast, recipe.compile)
    batch = synthetic_batch(cfg, args.batch_size, args.seq_len, device)
    losses: list[Any] = []  # detached loss tensors: read once at the end, not per step

    def step() -> None:
        losses.append(train_step(forward, batch, opt).detach())

    timed_steps(step, args.warmup, deadline, device)
    setup_s = time.perf_counter() - t0
    times = timed_steps(step, args.steps, deadline, device)
    return measurements(recipe, counts, times, setup_s, [float(x) for x in losses], cfg, args)


def measurements(
    recipe: Recipe,
    counts: dict[str, int],
    times: list[float],
    setup_s: float,
    losses: list[float],
    cfg: Any,
    args: argparse.Namespace,
) -> dict:
    """The recipe's row of the report."""
    import torch

    tokens = args.batch_size * args.seq_len
    step_s = sum(times) / len(times)
    tps = tokens / step_s
    mem = torch.cuda.max_memory_allocated() / 2**30 if args.device != "cpu" else None
    return {
        "recipe": recipe.name,
        "settings": asdict(recipe),
        "params": counts,
        "tokens_per_step": tokens,
        "timed_steps": len(times),
        "step_s": round(step_s, 4),
        "step_s_min": round(min(times), 4),
        "tokens_per_s": round(tps, 1),
        "mfu": _round(mfu(counts["total"], tps, args.peak_flops)),
        "mfu_split": _round(mfu_split(counts, cfg, args.seq_len, tps, args.peak_flops)),
        "peak_mem_gib": _round(mem, 2),
        "setup_s": round(setup_s, 1),
        "losses": [round(x, 4) for x in losses],
    }


def _round(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(x, n)


def run_safely(recipe: Recipe, cfg: Any, args: argparse.Namespace, deadline: float) -> dict:
    """`run_recipe`, an error (CUDA OOM included) reported instead of raised; memory freed."""
    import torch

    try:
        result = run_recipe(recipe, cfg, args, deadline)
    except torch.cuda.OutOfMemoryError as e:
        peak = torch.cuda.max_memory_allocated() / 2**30
        msg = f"CUDA OOM (peak {peak:.1f} GiB): {str(e).splitlines()[0]}"
        result = {"recipe": recipe.name, "error": msg}
    except Exception as e:  # one recipe failing (a compile error, say) must not lose the other
        traceback.print_exc()
        result = {"recipe": recipe.name, "error": f"{type(e).__name__}: {e}"}
    gc.collect()  # the model and optimizer were locals of run_recipe; drop them before the next
    if args.device != "cpu":
        torch.cuda.empty_cache()
    return result


def run_all(names: list[str], cfg: Any, args: argparse.Namespace) -> list[dict]:
    """Each recipe in turn, with an equal share of what is left of `--time-limit`."""
    table = recipes(args.compile, args.vitflow_weights)
    start, results = time.perf_counter(), []
    for i, name in enumerate(names):
        left = args.time_limit - (time.perf_counter() - start)
        if left <= 0:
            results.append({"recipe": name, "error": "skipped: --time-limit spent"})
            continue
        deadline = time.perf_counter() + left / (len(names) - i)
        print(f"[{name}] building and warming up ...", file=sys.stderr, flush=True)
        results.append(run_safely(table[name], cfg, args, deadline))
    return results


def ratio(results: list[dict], key: str) -> float | None:
    """vitflow / baseline for `key`, when both recipes measured it."""
    by = {r["recipe"]: r.get(key) for r in results}
    a, b = by.get("vitflow"), by.get("baseline")
    return round(a / b, 3) if a and b else None


def print_table(results: list[dict]) -> None:
    done = [r for r in results if "error" not in r]
    if done:
        p, tokens = done[0]["params"], done[0]["tokens_per_step"]
        parts = ", ".join(f"{k} {v:,}" for k, v in p.items() if k != "total")
        print(f"params {p['total']:,} ({parts}); {tokens:,} tokens/step")
    print(f"{'recipe':14s} {'step s':>8s} {'tokens/s':>10s} {'MFU':>7s} {'split':>7s} {'GiB':>6s}")
    for r in results:
        if "error" in r:
            print(f"{r['recipe']:14s} {r['error']}")
            continue
        pct = [
            f"{100 * x:6.1f}%" if x is not None else f"{'-':>7s}"
            for x in (r["mfu"], r["mfu_split"])
        ]
        mem = f"{r['peak_mem_gib']:6.1f}" if r["peak_mem_gib"] is not None else f"{'-':>6s}"
        print(
            f"{r['recipe']:14s} {r['step_s']:8.3f} {r['tokens_per_s']:10.0f} {pct[0]} {pct[1]} {mem}"
        )


def report(results: list[dict], cfg: Any, args: argparse.Namespace) -> dict:
    import torch
    import transformers

    return {
        "bench": "gpu_train",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gpu": device_name(args.device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "lm": "tiny" if args.tiny else args.lm,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "image_tokens": image_token_count(cfg),
        "peak_flops": args.peak_flops,
        "time_limit_s": args.time_limit,
        "recipes": {r["recipe"]: r for r in results},
        "mfu_ratio": ratio(results, "mfu"),
        "tokens_per_s_ratio": ratio(results, "tokens_per_s"),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lm", choices=sorted(LM_PRESETS), default="tinyllama")
    ap.add_argument("--batch-size", type=int, help="default 8 (tiny: 2)")
    ap.add_argument("--seq-len", type=int, help="tokens per row, image ones included: 2048 (32)")
    ap.add_argument("--warmup", type=int, help="untimed steps per recipe: 3 (tiny: 1)")
    ap.add_argument("--steps", type=int, help="timed steps per recipe: 10 (tiny: 2)")
    ap.add_argument("--recipes", default="baseline,vitflow", help="comma-separated subset")
    ap.add_argument("--time-limit", type=float, default=240.0, help="seconds for all recipes")
    ap.add_argument("--peak-tflops", type=float, help="bf16 dense peak; default by GPU name")
    ap.add_argument("--compile", action="store_true", help="torch.compile vitflow's model")
    ap.add_argument("--vitflow-weights", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--tiny", action="store_true", help="tiny dims, runs on CPU (CI)")
    ap.add_argument("--out", default=str(ROOT / "bench/out/gpu_train.json"))
    args = ap.parse_args(argv)
    for k, v in PROFILES["tiny" if args.tiny else "full"].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if min(args.batch_size, args.seq_len, args.steps) < 1 or args.warmup < 0:
        ap.error("--batch-size, --seq-len and --steps must be >= 1, --warmup >= 0")
    return args


def resolve_device(args: argparse.Namespace) -> str:
    """cuda when present; without one only `--tiny` runs (on CPU, float32)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if not args.tiny:
        raise SystemExit("no CUDA device: this bench needs a GPU (use --tiny for a CPU run)")
    return "cpu"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.recipes.split(",")
    known = list(recipes(False, "fp32"))
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown recipes {sorted(unknown)}; choose from {','.join(known)}")
    args.device = resolve_device(args)
    args.peak_flops = peak_flops_for(device_name(args.device), args.peak_tflops)
    cfg = llava_config(args.lm, args.tiny, max_len=max(4096, args.seq_len))
    results = run_all(names, cfg, args)
    out = report(results, cfg, args)
    print_table(results)
    print(f"MFU vitflow/baseline: {out['mfu_ratio']}  tokens/s: {out['tokens_per_s_ratio']}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
