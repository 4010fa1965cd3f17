"""What was dropped into the incoming folder: its files by content hash, its sidecars.

files, captions_sidecar = scan(Path("data/incoming"))    # [(relative path, sha256)]
notes, refused = load_records_sidecar(Path("data/incoming"))
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

RECORDS_SIDECAR = "records.jsonl"  # annotations (+ captions) for incoming images


def scan(incoming: Path) -> tuple[list[tuple[str, str]], Path | None]:
    """([(relative path, sha256)] of every visible file but the sidecar, the sidecar)."""
    from vit.sources.folder import CAPTION_FILES, _files

    incoming.mkdir(parents=True, exist_ok=True)  # a fresh install: show where files go
    sidecar = next((incoming / n for n in CAPTION_FILES if (incoming / n).is_file()), None)
    skip = {RECORDS_SIDECAR} | ({sidecar.name} if sidecar else set())
    rels = [r for r in _files(incoming) if r not in skip]
    return [(r, sha256_of(incoming / r)) for r in rels], sidecar


def load_records_sidecar(incoming: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """({path relative to `incoming`: Record} from `records.jsonl`, refused rows with why).

    The sidecar comes with the drop, so its `image` paths are not trusted: one that is
    absolute, climbs out of `incoming` or names no file there is refused, never read."""
    from vit.records import Record, RecordError, UnsafePathError, resolve_image

    path = incoming / RECORDS_SIDECAR
    if not path.is_file():
        return {}, []
    root = incoming.resolve()
    notes: dict[str, Any] = {}
    bad: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = Record.from_dict(json.loads(line))
                full = resolve_image(incoming, rec.image or "")
                if not full.is_file():
                    raise UnsafePathError(f"image {rec.image!r} is not in the incoming folder")
            except (json.JSONDecodeError, RecordError, UnsafePathError, ValueError) as e:
                bad.append({"file": RECORDS_SIDECAR, "line": n, "reason": str(e)})
                continue
            notes.setdefault(full.relative_to(root).as_posix(), rec)
    return notes, bad


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
