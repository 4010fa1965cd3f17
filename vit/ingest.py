"""Ingest: read any supported format, check the LLaVA data contract, write a vitflow dataset.

    vit ingest --format llava path/to/data.json --image-root path/to/images --out data/ingested/x

Valid records go to shards; every refused input (unparsable line, contract violation,
unreadable image) goes to `rejects.jsonl` with its reason and, where it parsed, the whole
record, so nothing disappears and a fixed record can be re-ingested.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from vit.curate.contract import validate
from vit.records import Dataset, write_dataset, write_json
from vit.sources import read_source


def ingest(
    fmt: str,
    src: str | Path,
    out: str | Path,
    image_root: str | Path | None = None,
    *,
    require_conversations: bool = False,
    max_pixels: int = 64_000_000,
    workers: int | None = None,
    shard_size: int = 10_000,
    metrics_path: str | Path | None = None,
) -> dict[str, Any]:
    """Read `src` in `fmt`, validate, write the dataset to `out`; return a summary."""
    source = read_source(fmt, src, image_root)
    report = validate(
        source.records,
        source.image_root,
        check_files=True,
        require_conversations=require_conversations,
        max_pixels=max_pixels,
        workers=workers,
    )
    rejects = list(source.rejects) + report.rejects(stage="validate")
    info = {"format": fmt, "src": str(src)}
    ds = write_dataset(out, report.valid, source.image_root, rejects, shard_size, info)
    summary = summarize(ds, rejects)
    if metrics_path:
        write_json(metrics_path, summary)
    return summary


def summarize(ds: Dataset, rejects: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts a person reads first: how many came in, how many kept, why the rest went."""
    by_reason: Counter[str] = Counter()
    for r in rejects:
        for code in r.get("codes") or [r.get("stage", "read")]:
            by_reason[code] += 1
    return {
        "kept": ds.count,
        "rejected": len(rejects),
        "rejected_by": dict(sorted(by_reason.items())),
        "read": ds.count + len(rejects),
    }
