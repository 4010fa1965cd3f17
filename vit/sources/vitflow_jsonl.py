"""Read vitflow's own JSONL: one `Record.to_dict()` object per line.

    vit ingest --format vitflow data/scenes/scenes.jsonl --out data/ingested/scenes

This is what the scene generator writes (`scenes.jsonl`, its images beside it). A vitflow
dataset folder (shards + `vitflow.json`) is accepted too, so a dataset can be re-ingested;
its image root then comes from the manifest. Malformed lines and records that
`Record.from_dict` refuses become rejects with the line number and the error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vit.records import MANIFEST, Dataset, Record, reject, shard_is_complete
from vit.sources._common import default_root, iter_json_rows, parse_rows
from vit.sources.base import Source


def read_vitflow(src: Path, image_root: Path | None = None) -> Source:
    """Records from a vitflow JSONL file, or from a vitflow dataset folder."""
    src = Path(src)
    rejects: list[dict[str, Any]] = []
    if src.is_dir() and (src / MANIFEST).exists():
        ds = Dataset.open(src)
        root = Path(image_root) if image_root is not None else ds.image_root
        return Source(root, _dataset_records(ds, rejects), rejects)
    records = parse_rows(iter_json_rows(src, rejects, jsonl=True), _parse, rejects)
    return Source(default_root(src, image_root), records, rejects)


def _parse(row: Any, loc: dict[str, int]) -> Record:
    return Record.from_dict(row)


def _dataset_records(ds: Dataset, rejects: list[dict[str, Any]]) -> Iterator[Record]:
    for name in ds.shards:
        shard = ds.path / name
        if not shard_is_complete(shard):
            # A torn shard may hold half a line; refuse it whole rather than guess.
            rejects.append(reject(None, "read", "shard is incomplete (no valid marker)", file=name))
            continue
        yield from parse_rows(iter_json_rows(shard, rejects, jsonl=True), _parse, rejects)
