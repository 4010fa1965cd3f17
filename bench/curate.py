"""Benchmark: curation's per-image work vs PIL decode alone and an imagededup-style dHash.

    .venv/bin/python bench/curate.py [--n 3000] [--size 128] [--repeat 3] [--keep DIR]

All three run in this process, on one thread, over the same generated scene PNGs (page
cache warmed first), so images/s here is images/s per core:

  (a) PIL decode alone: `Image.open(p).load()`
  (b) imagededup-style dHash: open, RGB, resize to 9x8 (Lanczos), gray, compare neighbours,
      pack to hex (what `imagededup.methods.DHash.encode_image` does per file)
  (c) vitflow curate: the per-shard step on ingested records: safe path, bomb guard, full
      decode, ext check, pixel sha256 + pHash + dHash, quality stats, every filter
      (size, aspect, uniform, entropy, blur, brightness, conversation contract, length)

Target: (c) >= 150 images/s per core (imagededup's dHash: about 72 images/s per vCPU,
decode included). Best of `--repeat` runs; CPU seconds are printed too because a shared
machine's wall time is noisy. Then, for information, the whole `curate()` (shard reads and
writes, rejects, summary) and the step with the automatic thread count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_fixture(work: Path, n: int, size: int) -> Path:
    """n clean scenes, ingested (the contract applied): the input curate normally gets."""
    from vit.ingest import ingest
    from vit.sources.scenes import generate_scenes

    if not (work / "ingested" / "vitflow.json").exists():
        generate_scenes(work / "raw", n=n, seed=0, size=size, defect_rate=0.0)
        ingest("vitflow", work / "raw" / "scenes.jsonl", work / "ingested")
    return work / "ingested"


def pil_decode(paths: list[Path]) -> int:
    for p in paths:
        with Image.open(p) as im:
            im.load()
    return len(paths)


def imagededup_dhash(paths: list[Path]) -> int:
    for p in paths:
        with Image.open(p) as im:
            img = im if im.mode == "RGB" else im.convert("RGBA").convert("RGB")
            small = np.asarray(img.resize((9, 8), Image.LANCZOS).convert("L"), dtype=np.uint8)
        bits = small[:, 1:] > small[:, :-1]
        "".join(f"{x:02x}" for x in np.packbits(bits))
    return len(paths)


def vitflow_step(records: list, image_root: Path, workers: int | None = 1) -> int:
    from vit.curate.filters import CurateConfig
    from vit.curate.run import curate_step

    step = curate_step(CurateConfig(workers=workers), image_root)
    kept, rejects = step(records)  # annotates in place; a rerun writes the same values
    assert not rejects, "fixture should be clean"
    return len(kept)


def best(fn, repeat: int, *args) -> tuple[float, float, int]:
    """(wall s, cpu s, items) of the fastest of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        n = fn(*args)
        runs.append((time.perf_counter() - w, time.process_time() - c, n))
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="fixture folder to create or reuse")
    args = ap.parse_args()
    from vit.curate.run import curate
    from vit.records import Dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        ds = Dataset.open(make_fixture(work, args.n, args.size))
        records = list(ds)
        paths = [ds.image_root / r.image for r in records]
        pil_decode(paths)  # warm the page cache and PIL's plugin registry
        rows = [
            ("PIL decode alone", best(pil_decode, args.repeat, paths)),
            ("imagededup-style dHash", best(imagededup_dhash, args.repeat, paths)),
            ("vitflow curate step", best(vitflow_step, args.repeat, records, ds.image_root)),
        ]
        shutil.rmtree(work / "curated", ignore_errors=True)  # else a rerun skips every shard
        whole = best(lambda: curate(ds.path, work / "curated", progress=False)["read"], 1)
        threads = best(vitflow_step, args.repeat, records, ds.image_root, None)
    report(args, rows, whole, threads)


def report(args, rows, whole, threads) -> None:
    print(f"{args.n} scenes, {args.size}x{args.size} PNG, one thread, best of {args.repeat}")
    print(f"{'':26s} {'img/s (wall)':>13s} {'img/s (cpu)':>12s}")
    for name, (w, c, n) in rows:
        print(f"{name:26s} {n / w:13.0f} {n / c:12.0f}")
    v = rows[2][1][2] / rows[2][1][0]
    for name, (w, _, n) in rows[:2]:
        print(f"vitflow / {name}: {v / (n / w):.2f}x")
    verdict = "meets" if v >= 150 else "MISSES"
    print(f"target >= 150 img/s per core: {v:.0f} ({verdict}); imagededup dhash reference ~72")
    w, _, n = whole
    print(f"whole curate() incl. shard I/O, 1 process: {n / w:.0f} img/s")
    w, _, n = threads
    print(f"step with automatic workers ({os.cpu_count()} cores): {n / w:.0f} img/s")


if __name__ == "__main__":
    main()
