"""Counting and finishing for the synthesize stage: per-shard counts, metrics, dedup.

Per-shard counts live beside the shard (`records-NNNNN.metrics.json`), so the metrics of a
resumed run cover the whole dataset, not just the shards this process happened to redo.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from vit.records import Dataset, atomic_write_text, write_dataset
from vit.synth.templates import TYPES

COUNTS = (
    "requests",
    "generated",
    "failures",
    "parsed",
    "parse_failures",
    "hallucinated",
    "rejected",
    "trimmed_turns",
    "kept",
    "claims",
    "false_claims",
    "tokens_in",
    "tokens_out",
    "retries",
)


def counts_path(job) -> Path:
    out = Path(job.out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".metrics.json")


def write_counts(path: Path, counts: dict[str, Counter], skipped: int) -> None:
    data = {
        "types": {t: {k: int(c[k]) for k in COUNTS} for t, c in counts.items()},
        "skipped": skipped,
    }
    atomic_write_text(path, json.dumps(data, sort_keys=True))


def read_counts(job) -> dict[str, Any]:
    p = counts_path(job)
    return json.loads(p.read_text()) if p.exists() else {"types": {}, "skipped": 0}


def failures(job) -> int:
    """Failed generations recorded for a finished shard (they are retried on the next run)."""
    return sum(c.get("failures", 0) for c in read_counts(job)["types"].values())


def _derive(c: Counter, cfg) -> dict[str, Any]:
    d = {k: int(c[k]) for k in COUNTS}
    d["hallucination_rate"] = round(c["hallucinated"] / c["parsed"], 4) if c["parsed"] else 0.0
    d["parse_rate"] = round(c["parsed"] / c["generated"], 4) if c["generated"] else 0.0
    d["cost"] = cost(c, cfg)
    return d


def cost(c: Counter | dict, cfg) -> float:
    """Estimated spend in the price unit of the config (per 1k prompt / completion tokens)."""
    return round(
        c["tokens_in"] / 1000 * cfg.price_in_per_1k + c["tokens_out"] / 1000 * cfg.price_out_per_1k,
        6,
    )


def metrics(cfg, backend, jobs, run: Counter, dedup: dict, seconds: float) -> dict[str, Any]:
    """Per type and in total over the whole dataset, plus what this run itself sent."""
    types: dict[str, Counter] = {t: Counter() for t in TYPES}
    skipped = 0
    for job in jobs:
        data = read_counts(job)
        skipped += data["skipped"]
        for t, c in data["types"].items():
            types[t].update(c)
    per_type = {t: _derive(c, cfg) for t, c in types.items() if c["requests"]}
    for t, d in per_type.items():
        d["duplicates"] = dedup.get("removed", {}).get(t, 0)
        d["final"] = d["kept"] - d["duplicates"]
    total = _derive(sum(types.values(), Counter()), cfg)
    total["duplicates"] = sum(dedup.get("removed", {}).values())
    total["final"] = total["kept"] - total["duplicates"]
    this_run = {
        k: int(run[k])
        for k in ("sent", "cache_hits", "retries", "failures", "tokens_in", "tokens_out")
    }
    this_run |= {"cost": cost(run, cfg), "seconds": round(seconds, 3)}
    return {
        "backend": backend.name,
        "model": backend.model,
        "validator": cfg.validator,
        "types": per_type,
        "total": total,
        "skipped_records": skipped,
        "run": this_run,
        "dedup": {k: v for k, v in dedup.items() if k != "removed"},
    }


def _stamp(generated: Dataset, cfg) -> str:
    """What the final dataset is derived from: the generated shards' bytes, the dedup params."""
    marks = [(generated.path / f"{n}.done").read_text() for n in generated.shards]
    marks.append(hashlib.sha256((generated.path / "rejects.jsonl").read_bytes()).hexdigest())
    blob = json.dumps([marks, cfg.dedup, cfg.dedup_eps, generated.info], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def dedup_and_write(generated: Dataset, out: Path, cfg, info: dict[str, Any]) -> dict[str, Any]:
    """Instruction dedup (the dedup stage's own text code), then the final dataset; skipped
    when the final dataset already derives from exactly these shards and params."""
    stamp = _stamp(generated, cfg)
    try:
        done = Dataset.open(out).info
    except (FileNotFoundError, ValueError, KeyError):
        done = {}
    if done.get("stamp") == stamp:
        return done["dedup"]
    records = list(generated)
    summary: dict[str, Any] = {"enabled": bool(cfg.dedup), "removed": {}}
    rows: list[dict[str, Any]] = []
    if cfg.dedup and records:
        from vit.synth.instruction_dedup import dedup_instructions

        kept, rows, found = dedup_instructions(records, cfg.dedup_eps)
        summary |= found
        gone = {r["id"] for r in rows}
        for t in TYPES:
            n = sum(r.id in gone and r.metadata["synth"]["type"] == t for r in records)
            summary["removed"][t] = n
        records = kept
    rejects = generated.rejects() + rows
    meta = info | {"dedup": summary, "stamp": stamp}
    write_dataset(out, records, image_root=generated.image_root, rejects=rejects, info=meta)
    return summary
