"""Chat-style JSONL ("messages", as TRL and LLaMA-Factory use it; ShareGPT) in and out.

    vit ingest --format messages data.jsonl --out DIR
    vit export --format messages data/ingested/scenes --out data/export/messages

In, one object a line:
- TRL: `{"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text",
  "text": "..."}]}, ...], "images": ["a.png"]}`
- LLaMA-Factory sharegpt: the same with string content holding `<image>`
- ShareGPT: `{"conversations": [{"from": "human"|"gpt"|"user"|"assistant", "value": "..."}]}`
Turns map onto LLaVA's (user -> human, assistant -> gpt, system -> `metadata["system"]`);
image parts become `<image>`, joined to the text by a newline, and `<image>` is put at the
head of the first human turn when a row has an image but no placeholder. Rows with more
than one image are refused (multi-image records are not supported yet). The id is the row's
`id`, else `{file stem}-{line number}`. Image paths are kept as given, relative to the
image root (default: the file's folder).

Out: `OUT/data.jsonl` in TRL form (content lists, `images: ["images/..."]` relative to OUT)
+ `OUT/images/`; vitflow's own fields ride under a `vitflow` key so reading back is
lossless. `style="llamafactory"` writes string content with `<image>` instead, plus the
`OUT/dataset_info.json` LLaMA-Factory looks for (use `--dataset_dir OUT --dataset vitflow`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vit.records import Record, RecordError, atomic_write_text
from vit.sources._common import (
    MULTI_IMAGE,
    apply_fields,
    chat_turns,
    default_root,
    ensure_image_token,
    exported,
    iter_json_rows,
    json_id,
    messages_and_extras,
    parse_rows,
    trainer_turns,
    vitflow_fields,
)
from vit.sources.base import Source

DATA_FILE = "data.jsonl"
KNOWN_KEYS = {"id", "messages", "conversations", "images", "image", "vitflow"}


def read_messages(src: Path, image_root: Path | None = None) -> Source:
    """Records from a messages/ShareGPT JSONL file (a JSON list of rows works too)."""
    src = Path(src)
    rejects: list[dict[str, Any]] = []

    def parse(row: Any, loc: dict[str, int]) -> Record:
        n = loc.get("line", loc.get("index"))
        return messages_record(row, default_id=f"{src.stem}-{n}", default_source=src.name)

    records = parse_rows(iter_json_rows(src, rejects), parse, rejects)
    return Source(default_root(src, image_root), records, rejects)


def messages_record(row: Any, default_id: str, default_source: str = "") -> Record:
    """One chat row -> Record; raises RecordError saying what is wrong with it."""
    if not isinstance(row, dict):
        raise RecordError(f"row must be a JSON object, got {type(row).__name__}")
    inline: list[str] = []
    convs, system = chat_turns(row, inline)
    images = image_list(row.get("images", row.get("image"))) or inline
    if len(images) > 1:
        raise RecordError(MULTI_IMAGE)
    image = images[0] if images else None
    d: dict[str, Any] = {
        "id": json_id(row.get("id")) or default_id,
        "image": image,
        "conversations": ensure_image_token(convs) if image else convs,
        "source": default_source,
    }
    if "vitflow" in row:
        apply_fields(d, row["vitflow"])
    metadata = dict(d.get("metadata") or {})
    if system is not None:
        metadata["system"] = system
    extra = {k: v for k, v in row.items() if k not in KNOWN_KEYS}
    if extra:
        metadata["extra"] = {**metadata.get("extra", {}), **extra}
    d["metadata"] = metadata
    return Record.from_dict(d)


def image_list(v: Any) -> list[str]:
    """`images` as a list of path strings (a bare string or `{"path": ...}` also accepted)."""
    if v is None or v == "":
        return []
    items = v if isinstance(v, list) else [v]
    out = []
    for it in items:
        path = it.get("path") if isinstance(it, dict) else it
        if not isinstance(path, str) or not path:
            raise RecordError(f"image must be a path string, got {it!r:.60}")
        out.append(path)
    return out


def write_messages(
    records: Iterable[Record], image_root: Path, out: Path, *, style: str = "trl"
) -> Path:
    """Write `out/data.jsonl` (TRL or LLaMA-Factory chat rows) and copy images to `out/images/`."""
    if style not in ("trl", "llamafactory"):
        raise ValueError(f"unknown messages style {style!r}; choose trl or llamafactory")
    out = Path(out)
    lines = []
    for rec, rel in exported(records, Path(image_root), out):
        row = messages_row(rec, rel, string_content=style == "llamafactory")
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    path = out / DATA_FILE
    atomic_write_text(path, "".join(lines))
    if style == "llamafactory":
        atomic_write_text(out / "dataset_info.json", json.dumps(LLAMAFACTORY_INFO, indent=2))
    return path


def messages_row(rec: Record, image: str | None, string_content: bool = False) -> dict[str, Any]:
    """One output row: id, messages, images (relative to OUT), and the `vitflow` extras."""
    if string_content:
        msgs, extras = string_messages(rec), vitflow_fields(rec)
    else:
        msgs, extras = messages_and_extras(rec)
    return {"id": rec.id, "messages": msgs, "images": [image] if image else [], "vitflow": extras}


def string_messages(rec: Record) -> list[dict[str, str]]:
    """LLaMA-Factory messages: string content, so LLaVA's text goes across unchanged."""
    system = rec.metadata.get("system")
    msgs = [{"role": "system", "content": system}] if isinstance(system, str) else []
    for t in trainer_turns(rec):
        msgs.append(
            {"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]}
        )
    return msgs


LLAMAFACTORY_INFO = {
    "vitflow": {
        "file_name": DATA_FILE,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }
}
