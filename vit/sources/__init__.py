"""Readers and writers of the formats vitflow takes in and hands to trainers.

Readers: `read_source(fmt, src, image_root=None) -> Source`.
Writers: `write_export(fmt, records, image_root, out) -> Path`.
Modules are imported lazily so `vit --help` stays instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from vit.records import Record
from vit.sources.base import Source

# format name -> "module:function"
READERS = {
    "vitflow": "vit.sources.vitflow_jsonl:read_vitflow",
    "llava": "vit.sources.llava:read_llava",
    "messages": "vit.sources.messages:read_messages",
    "hf": "vit.sources.hf:read_hf",
    "coco": "vit.sources.coco:read_coco",
    "folder": "vit.sources.folder:read_folder",
}
WRITERS = {
    "llava": "vit.sources.llava:write_llava",
    "messages": "vit.sources.messages:write_messages",
    "hf": "vit.sources.hf:write_hf",
}


def _load(spec: str):
    mod, fn = spec.split(":")
    return getattr(importlib.import_module(mod), fn)


def read_source(fmt: str, src: str | Path, image_root: str | Path | None = None) -> Source:
    if fmt not in READERS:
        raise ValueError(f"unknown input format {fmt!r}; choose from {sorted(READERS)}")
    return _load(READERS[fmt])(Path(src), None if image_root is None else Path(image_root))


def write_export(
    fmt: str, records: Iterable[Record], image_root: str | Path, out: str | Path
) -> Path:
    if fmt not in WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {sorted(WRITERS)}")
    return _load(WRITERS[fmt])(records, Path(image_root), Path(out))


def guess_format(path: str | Path) -> str:
    """Best guess of a source's format from its name and first record."""
    import json

    p = Path(path)
    if p.is_dir():
        if (
            (p / "dataset_info.json").exists()
            or (p / "state.json").exists()
            or any(p.glob("*.parquet"))
        ):
            return "hf"
        return "folder"
    if p.suffix == ".parquet":
        return "hf"
    if p.suffix == ".json":
        head = p.read_text(encoding="utf-8", errors="replace")[:4096].lstrip()
        return "coco" if head.startswith("{") and '"images"' in head else "llava"
    with open(p, encoding="utf-8", errors="replace") as f:
        first = next((line for line in f if line.strip()), "{}")
    try:
        keys = set(json.loads(first))
    except (json.JSONDecodeError, TypeError):
        return "vitflow"
    if "messages" in keys:
        return "messages"
    return "vitflow" if keys & {"annotations", "captions", "metadata", "source"} else "llava"
