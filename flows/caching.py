"""Cache keys from content for the expensive deterministic tasks (dedup: embedding + indexing).

Prefect's default cache key hashes a task's arguments, and here those are paths: the same
path with new data would hit a stale result. These keys hash what a path holds instead,
cheaply: a dataset's manifest and its shards' completion markers (each holds its shard's
sha256, written with the shard), plus the source of the library code that computes the
result, so an edit to vit/dedup or vit/embed is a new key too.

A hit is only trusted while the task's own output is still there and whole: `intact(out)`
is checked by the flow, which refreshes the cache (runs the task) when it is not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def dataset_fingerprint(path: str | Path) -> str:
    """sha256 of a dataset's manifest and shard markers: its content, read in microseconds."""
    from vit.records import MANIFEST, Dataset

    ds = Dataset.open(path)
    h = hashlib.sha256((ds.path / MANIFEST).read_bytes())
    for name in ds.shards:
        marker = ds.path / f"{name}.done"
        h.update(marker.read_bytes() if marker.exists() else b"missing")
    return h.hexdigest()


def code_fingerprint(*packages: str) -> str:
    """sha256 of the .py sources of the given vit packages (e.g. "vit.dedup")."""
    import importlib

    h = hashlib.sha256()
    for pkg in packages:
        root = Path(importlib.import_module(pkg).__file__).parent
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def content_key(
    prefix: str, src: str | Path, out: str | Path, packages: tuple, **extra: Any
) -> str:
    """`prefix-<sha256>` over the input dataset's content, the output path (two outputs of
    the same input are two results), the code, and any other inputs (config, overrides)."""
    blob = json.dumps(
        [dataset_fingerprint(src), str(Path(out).resolve()), code_fingerprint(*packages), extra],
        sort_keys=True,
        default=str,
    )
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()}"


def intact(out: str | Path, also: tuple[str, ...] = ()) -> bool:
    """The output dataset is there and whole: manifest, every shard matching its marker, and
    the named side files."""
    from vit.records import Dataset, shard_is_complete

    try:
        ds = Dataset.open(out)
    except (FileNotFoundError, ValueError):
        return False
    shards_ok = all(shard_is_complete(ds.path / s) for s in ds.shards)
    return shards_ok and all((ds.path / f).exists() for f in also)
