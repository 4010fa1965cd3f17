"""Helpers shared by the format readers and writers, so each rule is written once.

Used by `vit ingest --format FORMAT SRC --out DIR` (readers) and
`vit export --format {llava,messages,hf} SRC --out DIR` (writers).

Three rules live here:
- roles: LLaVA's `human`/`gpt`; `user`/`assistant` map onto them; a `system` turn is not a
  LLaVA turn, so it travels in `metadata["system"]`; any other role is refused.
- the image placeholder: `<image>` inside LLaVA text, `{"type": "image"}` inside a TRL content
  list; parts are joined with one newline (`<image>\\nWhat is this?`), LLaVA's own convention.
- export: images are copied (hardlinked when possible) into `OUT/images/` under their
  relative path; a record whose image is missing or unsafe is skipped and written to
  `OUT/export_rejects.jsonl` instead of silently dropped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

try:  # orjson parses about 3x faster; its JSONDecodeError subclasses json's
    from orjson import loads
except ImportError:  # pragma: no cover - orjson is a dependency, but stay importable
    from json import loads

from vit.records import IMAGE_TOKEN, Record, RecordError, reject, resolve_image, write_jsonl

IMAGES_DIR = "images"
EXPORT_REJECTS = "export_rejects.jsonl"
# Fields of Record that LLaVA/messages files have no place for; writers carry them as extras.
VITFLOW_FIELDS = ("width", "height", "source", "split", "annotations", "captions", "metadata")
ROLE_MAP = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt"}
MULTI_IMAGE = "multi-image records are not supported yet"

Loc = dict[str, Any]  # {"line": n} for JSONL, {"index": i} for JSON lists and tables


# --- reading ---------------------------------------------------------------------------------


def default_root(src: Path, image_root: Path | None) -> Path:
    """The root image paths are relative to: the caller's, else the folder holding `src`."""
    if image_root is not None:
        return Path(image_root)
    return src if src.is_dir() else src.parent


def json_id(v: Any) -> str | None:
    """A record id from JSON: strings as given ("000000033471" keeps its zeros), 7.0 -> "7"."""
    if v is None or isinstance(v, bool | dict | list):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v)
    return s or None


def iter_json_rows(
    src: Path, rejects: list[dict[str, Any]], jsonl: bool = False
) -> Iterator[tuple[Loc, Any]]:
    """Rows of a JSON list or a JSONL file; a malformed line becomes a reject, not a crash.

    A file whose first character is `[` is a JSON list, unless `jsonl` says otherwise.
    """
    with open(src, encoding="utf-8-sig") as f:
        head = f.read(64).lstrip()
    if head.startswith("[") and not jsonl:
        # A JSON list has to be parsed whole; only JSONL can be streamed.
        try:
            rows = loads(src.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as e:
            rejects.append(reject(None, "read", f"file is not valid JSON: {e}", file=src.name))
            return
        for i, row in enumerate(rows):
            yield {"index": i}, row
        return
    with open(src, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = loads(line)
            except json.JSONDecodeError as e:
                rejects.append(reject(None, "read", f"malformed JSON: {e}", file=src.name, line=n))
                continue
            yield {"line": n}, row


def parse_rows(
    rows: Iterable[tuple[Loc, Any]],
    parse: Callable[[Any, Loc], Record],
    rejects: list[dict[str, Any]],
    shown: Callable[[Any], Any] = lambda row: row,
) -> Iterator[Record]:
    """Parse each row; a row that fails becomes a reject row and parsing goes on.

    The reject keeps the row itself (as `shown(row)`, JSON-safe), so a fixed row can be fed
    back in.
    """
    for loc, row in rows:
        try:
            yield parse(row, loc)
        except (RecordError, TypeError, ValueError, KeyError, AttributeError) as e:
            rid = json_id(row.get("id")) if isinstance(row, dict) else None
            rejects.append(reject(rid, "read", str(e), **loc, row=shown(row)))


def role_of(raw: Any, n: int) -> str:
    name = raw.lower() if isinstance(raw, str) else None
    if name == "system":
        return "system"
    role = ROLE_MAP.get(name or "")
    if role is None:
        raise RecordError(f"turn {n}: unknown role {raw!r}; expected human/gpt or user/assistant")
    return role


def content_text(content: Any, images: list[str]) -> str:
    """Text of a turn: a string as is, or a TRL content list with images as `<image>`.

    Inline image paths (`{"type": "image", "image": "a.png"}`) are appended to `images`.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RecordError(f"content must be a string or a list of parts, got {content!r:.60}")
    parts = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "image":
            parts.append(IMAGE_TOKEN)
            if isinstance(p.get("image"), str):
                images.append(p["image"])
        elif kind == "text":
            parts.append(str(p.get("text") or ""))
        else:
            raise RecordError(f"unknown content part {p!r:.60}")
    return "\n".join(parts)


def parse_turns(
    turns: Any, role_key: str, text_key: str, images: list[str] | None = None
) -> tuple[list[dict[str, str]], str | None]:
    """LLaVA/ShareGPT `{from, value}` or chat `{role, content}` turns -> (conversations, system)."""
    if not isinstance(turns, list):
        raise RecordError(f"conversations must be a list, got {type(turns).__name__}")
    convs: list[dict[str, str]] = []
    system = None
    for n, t in enumerate(turns):
        if not isinstance(t, dict) or role_key not in t or text_key not in t:
            raise RecordError(f"turn {n} must be an object with {role_key!r} and {text_key!r}")
        role = role_of(t[role_key], n)
        text = content_text(t[text_key], images if images is not None else [])
        if role == "system":
            system = text
        else:
            convs.append({"from": role, "value": text})
    return convs, system


def chat_turns(row: dict[str, Any], images: list[str]) -> tuple[list[dict[str, str]], str | None]:
    """Turns of a `messages` (TRL, LLaMA-Factory) or `conversations` (ShareGPT) row."""
    if "messages" in row:
        return parse_turns(row["messages"], "role", "content", images)
    if "conversations" in row:
        return parse_turns(row["conversations"], "from", "value", images)
    raise RecordError("row has neither 'messages' nor 'conversations'")


def ensure_image_token(convs: list[dict[str, str]]) -> list[dict[str, str]]:
    """Put `<image>` at the head of the first human turn when no turn carries it.

    LLaVA's loader only feeds the image where the token is; without one it trains blind.
    """
    if any(IMAGE_TOKEN in t["value"] for t in convs):
        return convs
    out = [dict(t) for t in convs]
    for t in out:
        if t["from"] == "human":
            t["value"] = f"{IMAGE_TOKEN}\n{t['value']}"
            break
    return out


def apply_fields(d: dict[str, Any], fields: Any) -> None:
    """Overlay vitflow's own fields (as writers store them) onto a record dict."""
    if not isinstance(fields, dict):
        raise RecordError(f"vitflow fields must be an object, got {type(fields).__name__}")
    for k in (*VITFLOW_FIELDS, "conversations"):
        if k in fields:
            d[k] = fields[k]


# --- writing ---------------------------------------------------------------------------------


def vitflow_fields(rec: Record) -> dict[str, Any]:
    """The fields a trainer format has no slot for; `source` always, the rest when set."""
    d = rec.to_dict()
    return {k: d[k] for k in VITFLOW_FIELDS if k == "source" or d[k] not in (None, "", [], {})}


def text_parts(value: str) -> list[dict[str, Any]]:
    """`<image>\\nWhat?` -> [{"type": "image"}, {"type": "text", "text": "What?"}].

    One newline next to each placeholder is the joint `content_text` puts back.
    """
    pieces = value.split(IMAGE_TOKEN)
    parts: list[dict[str, Any]] = []
    for i, piece in enumerate(pieces):
        if i > 0:
            parts.append({"type": "image"})
            piece = piece.removeprefix("\n")
        if i < len(pieces) - 1:
            piece = piece.removesuffix("\n")
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def to_messages(convs: list[dict[str, str]], system: Any = None) -> list[dict[str, Any]]:
    """LLaVA turns -> TRL messages with content lists."""
    msgs = []
    if isinstance(system, str):
        msgs.append({"role": "system", "content": [{"type": "text", "text": system}]})
    for t in convs:
        role = "user" if t["from"] == "human" else "assistant"
        msgs.append({"role": role, "content": text_parts(t["value"])})
    return msgs


def trainer_turns(rec: Record) -> list[dict[str, str]]:
    """The conversations a trainer gets: with `<image>` placed if the record has an image."""
    return ensure_image_token(rec.conversations) if rec.image else rec.conversations


def messages_and_extras(rec: Record) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """TRL messages plus the `vitflow` extras that make reading them back lossless."""
    convs = trainer_turns(rec)
    msgs = to_messages(convs, rec.metadata.get("system"))
    extras = vitflow_fields(rec)
    back, _ = parse_turns(msgs, "role", "content")
    if back != convs:  # e.g. "<image>What?" has no newline to strip: keep the exact text
        extras["conversations"] = convs
    return msgs, extras


def copy_image(image_root: Path, rel: str, dst_root: Path, dst_rel: str | None = None) -> Path:
    """Hardlink (else copy) `rel` from `image_root` to `dst_root/dst_rel`; both paths checked."""
    src = resolve_image(image_root, rel)
    if not src.is_file():
        raise RecordError(f"image {rel!r} not found under {image_root}")
    dst = resolve_image(dst_root, dst_rel or rel)
    if dst.exists():
        if dst.samefile(src):
            return dst
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)
    return dst


def exported(
    records: Iterable[Record],
    image_root: Path,
    out: Path,
    take: Callable[[Path, str, Path], Any] | None = None,
) -> Iterator[tuple[Record, Any]]:
    """Records whose image could be taken, with what `take(image_root, rel, out)` returned.

    The default `take` copies the image into `out/images/` and returns its path relative to
    `out`; text-only records come with None. Refused records go to
    `out/export_rejects.jsonl`, written when the stream ends.
    """
    out.mkdir(parents=True, exist_ok=True)
    take = take or copy_into_images
    rejects: list[dict[str, Any]] = []
    for rec in records:
        if rec.image is None:
            yield rec, None
            continue
        try:
            taken = take(image_root, rec.image, out)
        except (RecordError, OSError) as e:
            rejects.append(reject(rec.id, "export", str(e), image=rec.image))
            continue
        yield rec, taken
    write_jsonl(out / EXPORT_REJECTS, rejects)


def copy_into_images(image_root: Path, rel: str, out: Path) -> str:
    # A path already under images/ keeps its form, so exports never nest images/images/.
    posix = Path(rel).as_posix()
    dest = posix if posix.split("/")[0] == IMAGES_DIR else f"{IMAGES_DIR}/{posix}"
    copy_image(image_root, rel, out, dest)
    return dest
