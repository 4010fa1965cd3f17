"""Benchmark: vitflow's FiftyOne sync against FiftyOne's own batched `add_samples`.

    .venv/bin/python bench/fiftyone_sync.py [--n 5000] [--dim 0]

Both run in this process against one private mongod (bundled binary, temporary folder)
on the same records: scene-like records with 1-8 boxes, captions and a conversation, one
PNG each, 10% of them removed duplicates. The baseline builds `fo.Sample`s with
`fo.Detections` from the records and calls `dataset.add_samples` (its default batching);
vitflow's `sync` starts from the dedup output folder (reads and checks the shards, resolves
every image path, hashes each sample, writes the documents, saves the views). Also timed:
a re-sync with nothing changed (hash check, no writes) and one where every sample changed.

Measured here (2 CPU cores shared with other jobs, load average 2.5-6, n=5000), samples/s:
    add_samples 0.26-0.43k (the call alone 0.6k; building fo.Samples is the rest)
    sync, new dataset, no embeddings       3.2-3.8k  = 8-11x add_samples
    sync, new dataset, 512-d embeddings    1.8-2.8k  = 4.6-7x (vector field + sklearn index)
    re-sync, nothing changed               4.7-8.3k  (reads, resolves and hashes; no writes)
    re-sync, every sample changed          1.8-4.0k
Target: >= 1.5k samples/s.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vit.records import Annotation, Record, write_dataset, write_jsonl


def make_records(root: Path, n: int, seed: int = 0) -> list[Record]:
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (64, 64), "teal").save(root / "images" / "0.png")
    png = (root / "images" / "0.png").read_bytes()
    records = []
    for i in range(n):
        (root / "images" / f"{i}.png").write_bytes(png)  # distinct files, as in a real set
        boxes = []
        for _ in range(rng.randint(1, 8)):
            x, y = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
            box = [x, y, x + rng.uniform(0.05, 0.3), y + rng.uniform(0.05, 0.3)]
            boxes.append(Annotation("circle", box, "circle", rng.choice(["red", "blue"]), "small"))
        conv = [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": f"{i}"}]
        records.append(
            Record(f"s{i:06d}", f"images/{i}.png", 64, 64, "scenes", rng.choice(["train", "val"]),
                   boxes, [f"caption {i}", "shapes"], conv,
                   {"dedup": {"group": f"g{i // 2}", "group_size": 2}})
        )  # fmt: skip
    return records


def write_dedup_output(root: Path, records: list[Record]) -> Path:
    """Every 10th record becomes a removed duplicate of its neighbour."""
    out = root / "deduped"
    dups = [r for i, r in enumerate(records) if i % 10 == 1]
    dup_ids = {r.id for r in dups}
    write_dataset(out, [r for r in records if r.id not in dup_ids], root)
    rows = [{"id": r.id, "duplicate_of": f"s{int(r.id[1:]) - 1:06d}", "kind": "near",
             "similarity": 0.95, "record": r.to_dict()} for r in dups]  # fmt: skip
    write_jsonl(out / "duplicates.jsonl", rows)
    return out


def add_samples_baseline(fo, root: Path, records: list[Record]) -> tuple[float, float]:
    """Seconds to build the fo.Samples, and seconds `add_samples` then takes."""
    t = time.perf_counter()
    samples = []
    for r in records:
        dets = [
            fo.Detection(label=a.label, bounding_box=[a.box[0], a.box[1], a.box[2] - a.box[0],
                         a.box[3] - a.box[1]], shape=a.shape, color=a.color, size=a.size)
            for a in r.annotations
        ]  # fmt: skip
        samples.append(
            fo.Sample(filepath=str(root / r.image), vit_id=r.id, ground_truth=fo.Detections(detections=dets),
                      captions=r.captions, conversations=r.conversations, source=r.source,
                      split=r.split, status="kept", dup_group=r.metadata["dedup"]["group"])
        )  # fmt: skip
    built = time.perf_counter()
    fo.Dataset("baseline").add_samples(samples, progress=False)
    return built - t, time.perf_counter() - built


def timed_sync(name: str, deduped: Path, emb) -> tuple[float, object]:
    from vit.review import sync

    t = time.perf_counter()
    report = sync(name, deduped=deduped, embeddings=emb)
    return time.perf_counter() - t, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=0, help="embedding size (0: no embeddings)")
    args = ap.parse_args()
    from vit.review.db import load_fiftyone, temporary_database

    with tempfile.TemporaryDirectory() as tmp, temporary_database(Path(tmp) / "fo"):
        root = Path(tmp) / "data"
        records = make_records(root, args.n)
        deduped = write_dedup_output(root, records)
        emb = None
        if args.dim:
            vecs = np.random.default_rng(0).normal(size=(args.n, args.dim)).astype(np.float32)
            emb = ([r.id for r in records], vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
        fo = load_fiftyone()
        fo.Dataset("warmup").add_sample(fo.Sample(filepath=str(root / "images" / "0.png")))
        build_s, add_s = add_samples_baseline(fo, root, records)
        base = args.n / (build_s + add_s)
        secs, report = timed_sync("vitflow", deduped, emb)
        assert report.samples == args.n, report
        ours = args.n / secs
        print(f"n={args.n} dim={args.dim}")
        print(f"add_samples (fo.Sample + Detections): {base / 1000:6.2f}k samples/s"
              f"  (add_samples call alone: {args.n / add_s / 1000:.2f}k/s)")  # fmt: skip
        print(
            f"vit.review.sync (new dataset):        {ours / 1000:6.2f}k samples/s  = {ours / base:.1f}x"
        )
        secs, report = timed_sync("vitflow", deduped, emb)
        print(f"re-sync, nothing changed:             {args.n / secs / 1000:6.2f}k samples/s")
        for r in records:
            r.captions[0] += " (edited)"
        secs, report = timed_sync("vitflow", write_dedup_output(root, records), emb)
        assert report.updated == args.n, report
        print(f"re-sync, every sample changed:        {args.n / secs / 1000:6.2f}k samples/s")


if __name__ == "__main__":
    main()
