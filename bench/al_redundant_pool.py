"""A pool where choosing should pay: easy images over-represented, the crowded tail thin.

    python bench/al_redundant_pool.py                      # -> data/al_redundant/scenes
    vit --params data/al_redundant/params.yaml al experiment --strategies random --seeds 0
    vit --params data/al_redundant/params.yaml al report       # random, badge, uncertainty

The embedded default's pool is the generator's i.i.d. scenes after deduplication: its mix is
the test split's, and nothing in it is redundant, which leaves active learning nothing to
skip (README, "Active learning"). A web crawl is not like that: easy, look-alike images
dominate it. This builds such a pool from the same data, for the same experiment:

- the test and val splits are the standard data's, record for record (the same 1,083
  questions, the same eval-set fingerprint, so its runs compare with the main experiment's);
- the train split (the pool) holds `--one-object` one-object scenes (the standard pool's,
  then new ones from the same generator with `--seed`, ids from 1,000,000) and a random
  `--others` of the standard pool's scenes of 2 or more objects: by default 1,200 and 600,
  so two thirds of the pool is one-object scenes against 30% in the test split;
- every image is copied under OUT/images (the dataset's own image root), and
  OUT/../params.yaml is params.yaml with `active.data` set to OUT and the experiment's
  `out` moved to OUT/../runs, `metrics_path` and `png` to metrics/al_experiment_redundant.json
  and docs/al_curves_redundant.png, and its strategies and seeds set by `--strategies` and
  `--seeds`.

The new scenes are generated clean (no injected defects) and are not deduplicated against
each other: look-alike one-object scenes are the redundancy this pool is about.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit.records import Dataset, Record, write_dataset  # noqa: E402
from vit.sources.scenes import encode_png, make_scene  # noqa: E402

FIRST_NEW_INDEX = 1_000_000  # above any index the embedded default's generator uses


def n_objects(rec: Record) -> int:
    return len(rec.annotations)


def new_one_object_scenes(n: int, seed: int, size: int, images: Path) -> list[Record]:
    """`n` one-object scenes from the generator (`seed`, indices from FIRST_NEW_INDEX),
    images written under `images`; scenes of more objects are drawn and skipped."""
    out: list[Record] = []
    index = FIRST_NEW_INDEX
    while len(out) < n:
        rec, img = make_scene(seed, index, size)
        index += 1
        if n_objects(rec) != 1:
            continue
        (images / Path(rec.image).name).write_bytes(encode_png(img))
        rec.split = "train"
        rec.metadata["redundant_pool"] = "generated"
        out.append(rec)
    return out


def copy_image(rec: Record, ds: Dataset, images: Path) -> Record:
    """The record with its image copied under `images` (resolved inside `ds`'s root)."""
    src = ds.resolve(rec)
    dst = images / src.name
    if not dst.exists():
        shutil.copyfile(src, dst)
    rec.image = f"images/{src.name}"
    return rec


def build_pool(
    data: Path, out: Path, one_object: int, others: int, seed: int
) -> tuple[list[Record], dict[str, Any]]:
    """Records of the redundant pool's dataset and a summary of its mix."""
    ds = Dataset.open(data)
    records = list(ds)
    held = [r for r in records if r.split in ("test", "val")]
    pool = [r for r in records if r.split == "train"]
    ones = [r for r in pool if n_objects(r) == 1]
    more = [r for r in pool if n_objects(r) > 1]
    if others > len(more):
        raise SystemExit(f"--others {others}: the pool has {len(more)} scenes of 2+ objects")
    if not ones:
        raise SystemExit(f"{data}: no one-object scene in the train split")
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    kept_ones = ones[:one_object]
    chosen = random.Random(seed).sample(more, others)
    size = int(ones[0].width or 128)
    generated = new_one_object_scenes(max(0, one_object - len(ones)), seed, size, images)
    copied = [copy_image(r, ds, images) for r in held + kept_ones + chosen]
    result = copied + generated
    train = [r for r in result if r.split == "train"]
    summary = {
        "pool": len(train),
        "one_object_share": round(sum(n_objects(r) == 1 for r in train) / len(train), 3),
        "generated": len(generated),
        "held_out": len(held),
        "held_out_one_object_share": round(sum(n_objects(r) == 1 for r in held) / len(held), 3),
        "pool_objects": dict(sorted(Counter(n_objects(r) for r in train).items())),
    }
    return result, summary


def write_params(
    params: Path, out: Path, dest: Path, strategies: list[str], seeds: list[int]
) -> None:
    """params.yaml with the loop's data and the experiment's outputs moved to this pool."""
    p = yaml.safe_load(params.read_text())
    p.setdefault("active", {})["data"] = str(out)
    exp = p.setdefault("al_experiment", {})
    exp["out"] = str(out.parent / "runs")
    exp["metrics_path"] = "metrics/al_experiment_redundant.json"
    exp["png"] = "docs/al_curves_redundant.png"
    exp["strategies"], exp["seeds"] = list(strategies), list(seeds)
    dest.write_text(yaml.safe_dump(p, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/deduped/scenes", help="the standard dataset")
    ap.add_argument("--out", default="data/al_redundant/scenes")
    ap.add_argument("--one-object", type=int, default=1200, help="one-object pool scenes")
    ap.add_argument("--others", type=int, default=600, help="pool scenes of 2+ objects")
    ap.add_argument("--seed", type=int, default=1, help="generator seed of the new scenes")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--strategies", nargs="+", default=["random", "badge", "uncertainty"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    args = ap.parse_args(argv)
    out = Path(args.out)
    records, summary = build_pool(Path(args.data), out, args.one_object, args.others, args.seed)
    info = {"stage": "al_redundant_pool", "summary": summary}
    write_dataset(out, records, out, info=info)
    write_params(Path(args.params), out, out.parent / "params.yaml", args.strategies, args.seeds)
    print(yaml.safe_dump(summary, sort_keys=False), end="")
    print(f"wrote {out} and {out.parent / 'params.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
