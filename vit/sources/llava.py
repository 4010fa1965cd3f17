"""LLaVA's JSON format in and out.

    vit ingest --format llava llava_v1_5_mix665k.json --image-root playground/data --out DIR
    vit export --format llava data/ingested/scenes --out data/export/llava

In: a JSON list (or JSONL, one object a line) of `{id, image, conversations: [{from,
value}]}`, as in LLaVA's docs/Finetune_Custom_Data.md and llava_v1_5_mix665k.json. Records
without `image` are text-only. Ids are required (LLaVA keys samples by them); numbers become
strings, and string ids keep their leading zeros. `user`/`assistant` are read as
`human`/`gpt`; a `system` turn goes to `metadata["system"]`; any other role refuses the item.
Image paths are kept exactly as given, `../` included: the contract validator refuses
escapes, so the reject says why with the whole record. vitflow's own fields written by
`write_llava` (width, height, source, split, annotations, captions, metadata) are read back;
other unknown keys are kept in `metadata["extra"]`.

Out: `OUT/data.json` + `OUT/images/`, trained with
`--data_path OUT/data.json --image_folder OUT` (image paths are `images/...`; LLaVA joins
them with `--image_folder`). Text-only items have no `image` key, because LLaVA's loader
tests `'image' in item`; `<image>` is placed in the first human turn when no turn has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vit.records import Record, RecordError, atomic_write_text
from vit.sources._common import (
    MULTI_IMAGE,
    VITFLOW_FIELDS,
    apply_fields,
    default_root,
    exported,
    iter_json_rows,
    json_id,
    parse_rows,
    parse_turns,
    trainer_turns,
    vitflow_fields,
)
from vit.sources.base import Source

DATA_FILE = "data.json"
KNOWN_KEYS = {"id", "image", "conversations", *VITFLOW_FIELDS}


def read_llava(src: Path, image_root: Path | None = None) -> Source:
    """Records from a LLaVA JSON list or JSONL file; image root defaults to src's folder."""
    src = Path(src)
    rejects: list[dict[str, Any]] = []

    def parse(item: Any, loc: dict[str, int]) -> Record:
        return llava_record(item, default_source=src.name)

    records = parse_rows(iter_json_rows(src, rejects), parse, rejects)
    return Source(default_root(src, image_root), records, rejects)


def llava_record(item: Any, default_source: str = "") -> Record:
    """One LLaVA item -> Record; raises RecordError saying what is wrong with it."""
    if not isinstance(item, dict):
        raise RecordError(f"item must be a JSON object, got {type(item).__name__}")
    rid = json_id(item.get("id"))
    if rid is None:
        raise RecordError("item has no id")
    convs, system = parse_turns(item.get("conversations", []), "from", "value")
    d: dict[str, Any] = {
        "id": rid,
        "image": image_of(item.get("image")),
        "conversations": convs,
        "source": default_source,
    }
    apply_fields(d, {k: item[k] for k in VITFLOW_FIELDS if k in item})
    metadata = dict(d.get("metadata") or {})
    if system is not None:
        metadata["system"] = system
    extra = {k: v for k, v in item.items() if k not in KNOWN_KEYS}
    if extra:
        metadata["extra"] = {**metadata.get("extra", {}), **extra}
    d["metadata"] = metadata
    return Record.from_dict(d)


def image_of(v: Any) -> str | None:
    """The one image path of an item; a one-element list is accepted (LLaVA-OneVision style)."""
    if isinstance(v, list):
        if len(v) > 1:
            raise RecordError(MULTI_IMAGE)
        v = v[0] if v else None
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise RecordError(f"image must be a path string, got {v!r:.60}")
    return v


def write_llava(records: Iterable[Record], image_root: Path, out: Path) -> Path:
    """Write `out/data.json` (a LLaVA list) and copy images to `out/images/`."""
    out = Path(out)
    items = [llava_item(rec, rel) for rec, rel in exported(records, Path(image_root), out)]
    path = out / DATA_FILE
    # One item a line: a valid JSON list that still diffs and greps like JSONL.
    body = ",\n".join(json.dumps(it, ensure_ascii=False) for it in items)
    atomic_write_text(path, f"[\n{body}\n]\n" if items else "[]\n")
    return path


def llava_item(rec: Record, image: str | None) -> dict[str, Any]:
    """A LLaVA item: id, image (absent when text-only), conversations, then vitflow's fields."""
    item: dict[str, Any] = {"id": rec.id}
    if image is not None:
        item["image"] = image
    item["conversations"] = trainer_turns(rec)
    item.update(vitflow_fields(rec))
    return item
