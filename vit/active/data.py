"""The loop's data: selections as files, instruction synthesis for a set of images, the
training set of a round, and which images get extra instruction variants.

    write_selection(folder, picks, strategy)          -> selected.jsonl (id, score, strategy)
    recs, metrics = synthesize_for(records, root, folder, synth_cfg, variant=0)
    hard = hardest_images(train_records, losses, top=20, cap=2)   # [(source id, loss, variant)]

Variant 0 of an image is its first synthesis, with the stage's own seed; variant v > 0 asks
the synth stage again with seed `seed + v * VARIANT_STRIDE`, so the writer draws other
instruction types and phrasings, and renames the records `{id}-v{v}` so they never collide
with variant 0. Every call goes through `vit.synth.run.synthesize` and its cache: asking
again for what was generated before sends nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from vit.records import Dataset, Record, atomic_write_text, write_dataset, write_json

SELECTED = "selected.jsonl"
DONE = "DONE"  # model/DONE: the round's training finished (its summary)
TYPES_FILE, FOCUS_FILE = "types.json", "focus.json"
RUNNING = "RUNNING"  # OUT/RUNNING: {host, pid} of the process running the loop there
VARIANT_STRIDE = 1000


@contextmanager
def running(out: Path) -> Iterator[None]:
    """Marks `out` as being worked on by this process (OUT/RUNNING) until the block ends,
    however it ends: a report written meanwhile by another process leaves the half-made run
    out (`is_running`) instead of comparing it at the round it has reached."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUNNING, {"host": socket.gethostname(), "pid": os.getpid()})
    try:
        yield
    finally:
        (out / RUNNING).unlink(missing_ok=True)


def is_running(out: Path) -> bool:
    """Whether a live process on this machine runs the loop in `out`. A marker left by a
    killed process (its pid gone), or written on another machine (nothing to check it
    against), reads as not running: the finished rounds are there to report."""
    try:
        info = json.loads((out / RUNNING).read_text())
    except (OSError, ValueError):
        return False
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return False
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def write_selection(folder: Path, picks: Iterable[Any], strategy: str) -> list[str]:
    """selected.jsonl, written atomically (its presence marks the selection done)."""
    rows = [{"id": p.id, "score": round(float(p.score), 6), "strategy": strategy} for p in picks]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / SELECTED, "".join(json.dumps(r) + "\n" for r in rows))
    return [r["id"] for r in rows]


def read_selection(folder: Path) -> list[str]:
    path = folder / SELECTED
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


def source_id(rec: Record) -> str:
    """The pool image a synthesized record was written for."""
    synth = rec.metadata.get("synth") or {}
    return str(synth.get("source_id") or rec.id)


def variant_of(rec: Record) -> int:
    return int((rec.metadata.get("active") or {}).get("variant", 0))


def synth_config(cfg: Any, variant: int) -> Any:
    """The synth config of one variant (variant 0: unchanged)."""
    return cfg if variant == 0 else replace(cfg, seed=cfg.seed + variant * VARIANT_STRIDE)


def synthesize_for(
    records: Sequence[Record], image_root: str | Path, folder: Path, cfg: Any, variant: int = 0
) -> dict[str, Any]:
    """Instructions for `records` (pool images) through the synth stage, in `folder`:
    `folder/input` is its input dataset, `folder/out` its output, `folder/synth.json` the
    metrics of the call (`run.sent`: requests this call sent; 0 when all came from the cache
    or the output was already complete)."""
    from vit.synth.run import synthesize

    src = folder / "input"
    if not (src / "vitflow.json").exists():
        write_dataset(src, records, image_root)
    metrics = synthesize(src, folder / "out", synth_config(cfg, variant), progress=False)
    write_json(folder / "synth.json", metrics)
    return metrics


def synthesized(folder: Path, variant: int = 0, tag: dict[str, Any] | None = None) -> list[Record]:
    """The records synth wrote in `folder`, tagged `metadata.active` (variant, round, ...)
    and, for variants > 0, renamed `{id}-v{variant}`."""
    out = []
    for rec in Dataset.open(folder / "out"):
        rec.metadata = {**rec.metadata, "active": {"variant": variant, **(tag or {})}}
        if variant:
            rec.id = f"{rec.id}-v{variant}"
        out.append(rec)
    return out


def hardest_images(
    train: Sequence[Record], losses: dict[str, float], top: int, cap: int
) -> list[tuple[str, float, int]]:
    """(source image, its highest sample loss, the next variant number) for the `top` images
    of the training set with the highest loss that still have fewer than `cap` extra variants."""
    worst: dict[str, float] = {}
    last: Counter = Counter()  # the highest variant each image has in the set
    for rec in train:
        src = source_id(rec)
        last[src] = max(last[src], variant_of(rec))
        if rec.id in losses:
            worst[src] = max(worst.get(src, float("-inf")), losses[rec.id])
    open_ = [(s, v) for s, v in worst.items() if last[s] < cap]
    open_.sort(key=lambda sv: (-sv[1], sv[0]))
    return [(s, round(v, 6), last[s] + 1) for s, v in open_[:top]]


def count_summary(train: Sequence[Record]) -> dict[str, int]:
    """What a training set holds: samples (records), distinct images, extra variants."""
    return {
        "samples": len(train),
        "images": len({source_id(r) for r in train}),
        "variants": sum(variant_of(r) > 0 for r in train),
    }


def run_fingerprint(
    cfg: dict[str, Any], synth_cfg: Any, ds: Dataset, seed_round: Path | None
) -> dict[str, Any]:
    """What a run's rounds are made from: settings, synth config, the dataset's shard markers,
    the base model's content and the shared seed round's own fingerprint (if any)."""
    from vit.embed.base import model_fingerprint

    marks = [(ds.path / "vitflow.json").read_text()]
    marks += [(ds.path / f"{s}.done").read_text() for s in ds.shards]
    seed_run = seed_round.parent / "run.json" if seed_round is not None else None
    parts = {
        "config": cfg,
        "synth": synth_cfg.fingerprint(),
        "data": hashlib.sha256("".join(marks).encode()).hexdigest(),
        "base_model": model_fingerprint(cfg["base_model"]),
        "seed_round": str(seed_round or ""),
        "seed_run": seed_run.read_text() if seed_run is not None and seed_run.exists() else "",
    }
    blob = json.dumps(parts, sort_keys=True, default=str)
    return {"fingerprint": hashlib.sha256(blob.encode()).hexdigest(), **parts}
