"""Hugging Face `datasets` in and out.

    vit ingest --format hf path/to/saved_dataset --image-root data/ingested/x/images --out DIR
    vit export --format hf data/ingested/scenes --out data/export/hf

In: a `save_to_disk` folder (every split of a DatasetDict; the split name fills `split`),
or a Parquet file or folder of them (read with pyarrow batch by batch, so nothing is
copied into the HF cache). The image column is the first `Image` / list-of-`Image` feature,
else a column named images/image/image_path/file_name holding paths or bytes. The text is a
`conversations` column (LLaVA/ShareGPT turns), else `messages` (TRL), plus captions from
`captions`/`caption`/`text`. `id` is kept when the column exists, else `{src name}-{row}`.
Other columns go to `metadata["extra"]` (bytes left out). Rows with more than one image
are refused (multi-image records are not supported yet).

Embedded images (bytes) must become files, and a reader never writes into its source, so
they are written (once; a rerun leaves identical files alone) under the image root: the
caller's `image_root` (ingest passes one), else the sibling folder `<src>.images/`. The file
name is the row's `image_path` when that is a safe relative path (what `write_hf` stores),
else `{id}{.png/.jpg/...}` from the bytes' signature. Image columns holding paths are kept
as given, relative to the image root (default: the dataset folder, or the Parquet's folder).

Out: `save_to_disk(OUT)` of a Dataset with `id`, `images` (list of `Image`, bytes
embedded), `messages` (TRL content lists), `conversations` (LLaVA turns, exact), and
vitflow's fields: width, height, source, split, captions, annotations as features,
`metadata` as a JSON string, `image_path` as the original relative path. TRL's VLM SFT and
LLaMA-Factory read `images` + `messages`.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vit.records import Record, RecordError, atomic_write_bytes, resolve_image
from vit.sources._common import (
    MULTI_IMAGE,
    apply_fields,
    chat_turns,
    exported,
    json_id,
    messages_and_extras,
    parse_rows,
    trainer_turns,
)
from vit.sources.base import Source

IMAGE_NAMES = ("images", "image", "image_path", "file_name")
CAPTION_NAMES = ("captions", "caption", "text")
FIELD_COLS = ("width", "height", "source", "split", "annotations", "metadata", "image_path")
MAGIC = [
    (b"\x89PNG", ".png"),
    (b"\xff\xd8", ".jpg"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"RIFF", ".webp"),
]


# --- reading ---------------------------------------------------------------------------------


def read_hf(src: Path, image_root: Path | None = None) -> Source:
    """Records from a saved HF dataset or Parquet; embedded images are written under the root."""
    src = Path(src)
    tables = list(_tables(src))  # opens metadata only; rows stay on disk until iterated
    embedded = any(_image_col(feats)[1] for _, feats, _ in tables)
    if image_root is None:
        base = src if src.is_dir() else src.parent
        image_root = src.with_name(src.name + ".images") if embedded else base
    root = Path(image_root)
    if embedded and src.is_dir() and root.resolve().is_relative_to(src.resolve()):
        raise ValueError(
            f"image root {root} is inside the source {src}; a reader never writes there"
        )
    rejects: list[dict[str, Any]] = []
    return Source(root, _records(src, tables, root, rejects), rejects)


def _tables(src: Path) -> Iterator[tuple[str, Any, Iterator[list[dict]]]]:
    """(split name, features, batches of row dicts) for each split or Parquet file."""
    if src.is_dir() and any((src / n).exists() for n in ("dataset_dict.json", "state.json")):
        import datasets

        loaded = datasets.load_from_disk(str(src))
        splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
        for name, ds in splits:
            yield name, ds.features, _dataset_batches(ds)
        return
    files = [src] if src.is_file() else sorted(src.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{src} is neither a saved HF dataset nor Parquet")
    import datasets
    import pyarrow.parquet as pq

    for f in files:
        pf = pq.ParquetFile(f)
        yield "", datasets.Features.from_arrow_schema(pf.schema_arrow), _parquet_batches(pf)


def _dataset_batches(ds: Any) -> Iterator[list[dict]]:
    # Arrow format: image structs arrive as {bytes, path}, undecoded.
    for batch in ds.with_format("arrow").iter(batch_size=256):
        yield batch.to_pylist()


def _parquet_batches(pf: Any) -> Iterator[list[dict]]:
    for batch in pf.iter_batches(batch_size=256):
        yield batch.to_pylist()


def _image_col(features: Any) -> tuple[str | None, bool]:
    """(image column, whether it holds embedded images) from features, else from names."""
    from datasets import Image

    for name, feat in features.items():
        inner = getattr(feat, "feature", feat[0] if isinstance(feat, list) and feat else None)
        if isinstance(feat, Image) or isinstance(inner, Image):
            return name, True
    for name in IMAGE_NAMES:
        if name in features:
            dtype = getattr(features[name], "dtype", "")
            return name, dtype in ("binary", "large_binary")
    return None, False


def _records(
    src: Path, tables: list, root: Path, rejects: list[dict[str, Any]]
) -> Iterator[Record]:
    used: set[str] = set()  # names written in this read, so two rows never share a file
    n = 0
    for split, features, batches in tables:
        col, _ = _image_col(features)

        def parse(row: dict, loc: dict, split: str = split, col: str | None = col) -> Record:
            rec, image = hf_record(row, col, f"{src.stem}-{loc['index']}", src.name, split)
            rec.image = _materialize(image, rec.id, row.get("image_path"), root, used)
            return rec

        for batch in batches:
            rows = [
                ({"index": n + i, "split": split} if split else {"index": n + i}, r)
                for i, r in enumerate(batch)
            ]
            n += len(batch)
            yield from parse_rows(rows, parse, rejects, shown=_printable)


def hf_record(
    row: dict, image_col: str | None, default_id: str, source: str, split: str = ""
) -> tuple[Record, Any]:
    """One row -> (Record without its image yet, the raw image value)."""
    # LLaVA turns first: write_hf stores them exactly, next to the TRL messages.
    key = next((k for k in ("conversations", "messages") if row.get(k) is not None), None)
    convs, system = [], None
    if key is not None:
        turns = row[key]
        turns = json.loads(turns) if isinstance(turns, str) else turns  # some store JSON text
        convs, system = chat_turns({key: turns}, [])
    image = _one_image(row.get(image_col) if image_col else None)
    d: dict[str, Any] = {
        "id": json_id(row.get("id")) or default_id,
        "conversations": convs,
        "captions": _captions(row),
        "source": source,
        "split": split,
    }
    apply_fields(d, {k: row[k] for k in FIELD_COLS if row.get(k) is not None})
    d["metadata"] = _metadata(row, d.get("metadata"), system, image_col)
    return Record.from_dict(d), image


def _one_image(v: Any) -> Any:
    if isinstance(v, list):
        if len(v) > 1:
            raise RecordError(MULTI_IMAGE)
        return v[0] if v else None
    return v


def _captions(row: dict) -> list[str]:
    for name in CAPTION_NAMES:
        v = row.get(name)
        if v is not None:
            return [str(c) for c in v] if isinstance(v, list) else [str(v)]
    return []


def _metadata(row: dict, stored: Any, system: str | None, image_col: str | None) -> dict:
    """`metadata` column (a JSON string from write_hf, or a dict), plus system and extras."""
    meta = json.loads(stored) if isinstance(stored, str) else dict(stored or {})
    if not isinstance(meta, dict):
        raise RecordError("metadata column must hold a JSON object")
    if system is not None:
        meta["system"] = system
    known = {"id", "conversations", "messages", image_col, *CAPTION_NAMES, *FIELD_COLS}
    extra = {k: v for k, v in row.items() if k not in known and not _has_bytes(v)}
    if extra:
        meta["extra"] = {**meta.get("extra", {}), **extra}
    return meta


def _has_bytes(v: Any) -> bool:
    if isinstance(v, bytes | bytearray):
        return True
    if isinstance(v, dict):
        return any(_has_bytes(x) for x in v.values())
    return isinstance(v, list) and any(_has_bytes(x) for x in v)


def _printable(v: Any) -> Any:
    """A row made JSON-safe for the rejects file: bytes shown by their length only."""
    if isinstance(v, bytes | bytearray):
        return f"<{len(v)} bytes>"
    if isinstance(v, dict):
        return {k: _printable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_printable(x) for x in v]
    return v


def _materialize(image: Any, rid: str, wanted: Any, root: Path, used: set[str]) -> str | None:
    """A relative image path: paths kept as given, bytes written under `root` first."""
    if isinstance(image, dict):
        data, path = image.get("bytes"), image.get("path")
        image = data if data is not None else path
    if image is None or image == "":
        return None
    if isinstance(image, str):
        return image
    if not isinstance(image, bytes | bytearray):
        raise RecordError(f"image must be bytes or a path, got {type(image).__name__}")
    name = _file_name(bytes(image), rid, wanted, root, used)
    dst = resolve_image(root, name)
    if not (dst.is_file() and dst.read_bytes() == image):
        atomic_write_bytes(dst, bytes(image))
    used.add(name)
    return name


def _file_name(data: bytes, rid: str, wanted: Any, root: Path, used: set[str]) -> str:
    """`wanted` when it is a safe, unused relative path; else `{id}{ext}` made unique."""
    if isinstance(wanted, str) and wanted not in used:
        try:
            resolve_image(root, wanted)
            return wanted
        except RecordError:
            pass  # a hostile or absolute path: fall back to a name we make
    ext = next((e for sig, e in MAGIC if data.startswith(sig)), ".bin")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", rid).lstrip(".") or "image"
    name, k = f"{stem}{ext}", 1
    while name in used:
        name, k = f"{stem}-{k}{ext}", k + 1
    return name


# --- writing ---------------------------------------------------------------------------------


def hf_features() -> Any:
    from datasets import Features, Image, Value

    text = Value("string")
    return Features(
        {
            "id": text,
            "images": [Image()],
            "messages": [{"role": text, "content": [{"type": text, "text": text}]}],
            "conversations": [{"from": text, "value": text}],
            "image_path": text,
            "width": Value("int32"),
            "height": Value("int32"),
            "source": text,
            "split": text,
            "captions": [text],
            "annotations": [
                {
                    "label": text,
                    "box": [Value("float64")],
                    "shape": text,
                    "color": text,
                    "size": text,
                }
            ],
            "metadata": text,
        }
    )


def write_hf(records: Iterable[Record], image_root: Path, out: Path) -> Path:
    """`save_to_disk(out)` a Dataset with images embedded; returns `out`."""
    from datasets import Dataset

    out = Path(out)
    rows = (hf_row(rec, img) for rec, img in exported(records, Path(image_root), out, _take_bytes))
    with tempfile.TemporaryDirectory(prefix="vit-hf-") as tmp:
        # Streamed through a temporary Arrow cache so big exports never sit in memory; the
        # explicit fingerprint spares datasets from hashing (pickling) the generator.
        ds = Dataset.from_generator(
            lambda: rows, features=hf_features(), cache_dir=tmp, fingerprint=uuid.uuid4().hex
        )
        ds.save_to_disk(str(out))
    return out


def _take_bytes(image_root: Path, rel: str, out: Path) -> dict[str, Any]:
    path = resolve_image(image_root, rel)
    if not path.is_file():
        raise RecordError(f"image {rel!r} not found under {image_root}")
    return {"bytes": path.read_bytes(), "path": Path(rel).name}


def hf_row(rec: Record, image: dict[str, Any] | None) -> dict[str, Any]:
    msgs, extras = messages_and_extras(rec)
    d = rec.to_dict()
    return {
        "id": rec.id,
        "images": [image] if image else [],
        "messages": msgs,
        "conversations": extras.get("conversations") or trainer_turns(rec),
        "image_path": rec.image,
        "width": rec.width,
        "height": rec.height,
        "source": rec.source,
        "split": rec.split,
        "captions": rec.captions,
        "annotations": d["annotations"],
        "metadata": json.dumps(rec.metadata, ensure_ascii=False, sort_keys=True),
    }
