"""A folder of images, with optional captions, in.

    vit ingest --format folder path/to/images --out DIR

Every image under the folder (png, jpg, jpeg, webp, bmp, gif; recursive, sorted; hidden
files and folders skipped) becomes a record whose image path is relative to the folder.
Its id is that path without the extension, `/` written as `__` (`cats/a.png` -> `cats__a`;
if two files share a stem, the later one keeps its extension: `cats__a__jpg`).

Captions come from one file at the folder's top, the first found of `captions.csv`,
`captions.jsonl`, `metadata.csv`, `metadata.jsonl` (the last two as HF `imagefolder` names
them): the file column is `file_name` (or `image`, `file`, `path`), the text column
`caption` (or `text`, or a `captions` list); several rows per image add several captions.
Refused with a reject row: a file that is not an image, a caption row without a file or
text, a caption for a file that is not in the folder. Images are not opened here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from vit.records import Record, reject
from vit.sources._common import iter_json_rows
from vit.sources.base import Source

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
CAPTION_FILES = ("captions.csv", "captions.jsonl", "metadata.csv", "metadata.jsonl")
FILE_COLS = ("file_name", "image", "file", "path")
TEXT_COLS = ("caption", "text", "captions")


def read_folder(src: Path, image_root: Path | None = None) -> Source:
    """Records for the images under `src`; image root defaults to `src` itself."""
    src = Path(src)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a folder")
    root = src if image_root is None else Path(image_root)
    try:
        prefix = src.resolve().relative_to(root.resolve())
    except ValueError:
        raise ValueError(f"image root {root} must contain the folder {src}") from None
    rejects: list[dict[str, Any]] = []
    return Source(root, _records(src, prefix, rejects), rejects)


def _records(src: Path, prefix: Path, rejects: list[dict[str, Any]]) -> Iterator[Record]:
    cap_file = next((src / n for n in CAPTION_FILES if (src / n).is_file()), None)
    captions = _load_captions(cap_file, rejects) if cap_file else {}
    seen: set[str] = set()
    for rel in _files(src):
        if cap_file is not None and rel == cap_file.name:
            continue
        suffix = PurePosixPath(rel).suffix.lower()
        if suffix not in IMAGE_EXTS:
            reason = f"not an image file ({suffix or 'no extension'})"
            rejects.append(reject(None, "read", reason, file=rel))
            continue
        rid = _id_for(rel, seen)
        image = (PurePosixPath(prefix.as_posix()) / rel).as_posix()
        yield Record(id=rid, image=image, source=src.name, captions=captions.pop(rel, []))
    for rel in captions:
        rejects.append(
            reject(None, "read", "caption for a file that is not in the folder", file=rel)
        )


def _files(src: Path) -> list[str]:
    """Relative posix paths of the visible files under `src`, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath).relative_to(src)
        out += [(base / f).as_posix() for f in filenames if not f.startswith(".")]
    return sorted(out)


def _id_for(rel: str, seen: set[str]) -> str:
    p = PurePosixPath(rel)
    rid = p.with_suffix("").as_posix().replace("/", "__")
    if rid in seen:
        rid = f"{rid}__{p.suffix.lstrip('.').lower()}"
    seen.add(rid)
    return rid


def _load_captions(path: Path, rejects: list[dict[str, Any]]) -> dict[str, list[str]]:
    """{relative posix path: [captions]} from a CSV or JSONL caption file."""
    captions: dict[str, list[str]] = {}
    for n, row in _caption_rows(path, rejects):
        fcol = next((c for c in FILE_COLS if row.get(c)), None)
        tcol = next((c for c in TEXT_COLS if row.get(c)), None)
        if fcol is None or tcol is None or not isinstance(row[fcol], str):
            reason = f"caption row needs a file ({'/'.join(FILE_COLS)}) and a text ({'/'.join(TEXT_COLS)})"
            rejects.append(reject(None, "read", reason, file=path.name, line=n))
            continue
        rel = PurePosixPath(row[fcol].replace("\\", "/")).as_posix()
        texts = row[tcol] if isinstance(row[tcol], list) else [row[tcol]]
        captions.setdefault(rel, []).extend(str(t) for t in texts)
    return captions


def _caption_rows(path: Path, rejects: list[dict[str, Any]]) -> Iterator[tuple[int, Any]]:
    if path.suffix != ".csv":
        for loc, row in iter_json_rows(path, rejects, jsonl=True):
            yield loc["line"], row
        return
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            yield reader.line_num, row
