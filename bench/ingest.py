"""Benchmark: read + validate a 10k-record LLaVA JSON, vitflow vs plain json.load + PIL.

    .venv/bin/python bench/ingest.py [--n 10000] [--size 128]

Both sides run in this process over the same files (page cache warmed first, so neither
pays the disk). Baselines: (a) json.load + PIL.Image.open (header only, what a quick
script does), (b) json.load + PIL open + full decode (what a training loader pays).
vitflow does more than either: the full LLaVA contract (roles, <image> count, unique ids,
paths inside the root, decompression-bomb guard) plus a full decode of every image.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from PIL import Image


def make_fixture(work: Path, n: int, size: int) -> Path:
    """n distinct scene images and their LLaVA JSON (written by vitflow's own exporter)."""
    from vit.records import Record
    from vit.sources.llava import write_llava
    from vit.sources.scenes import generate_scenes
    from vit.sources.vitflow_jsonl import read_vitflow

    generate_scenes(work / "raw", n=n, seed=0, size=size, defect_rate=0.0)
    src = read_vitflow(work / "raw" / "scenes.jsonl")
    records: list[Record] = list(src.records)
    return write_llava(records, src.image_root, work / "llava")


def baseline(data_json: Path, decode: bool) -> int:
    root = data_json.parent
    with open(data_json) as f:
        items = json.load(f)
    for it in items:
        if "image" in it:
            with Image.open(root / it["image"]) as im:
                if decode:
                    im.load()
    return len(items)


def vitflow(data_json: Path, workers: int | None = None) -> int:
    from vit.curate.contract import validate
    from vit.sources.llava import read_llava

    src = read_llava(data_json)
    report = validate(src.records, src.image_root, check_files=True, workers=workers)
    assert report.ok, "fixture should be clean"
    return len(report.valid)


def timed(fn, *args) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn(*args)
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=None, help="decode threads (default: auto)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_fixture(Path(tmp), args.n, args.size)
        data_json = data if data.is_file() else data / "data.json"
        baseline(data_json, decode=True)  # warm the page cache for everyone
        t_open, n = timed(baseline, data_json, False)
        t_dec, _ = timed(baseline, data_json, True)
        t_vit, n_vit = timed(vitflow, data_json, args.workers)
    assert n == n_vit
    print(f"records: {n}  images {args.size}x{args.size} PNG")
    print(f"baseline json.load + PIL open          {n / t_open:9.0f} rec/s  ({t_open:.2f} s)")
    print(f"baseline json.load + PIL open + decode {n / t_dec:9.0f} rec/s  ({t_dec:.2f} s)")
    print(f"vitflow read + full contract + decode  {n / t_vit:9.0f} rec/s  ({t_vit:.2f} s)")
    print(f"ratio vs open-only: {t_open / t_vit:.2f}x   ratio vs open+decode: {t_dec / t_vit:.2f}x")


if __name__ == "__main__":
    main()
