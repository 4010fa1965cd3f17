"""The one record type of vitflow and its on-disk form.

A dataset is a folder:

    DIR/vitflow.json              manifest, written last: the dataset-level completion marker
    DIR/records-00000.jsonl       shards, each written atomically (temp file + rename)
    DIR/records-00000.jsonl.done  per-shard completion marker (count + sha256 of the bytes)
    DIR/rejects.jsonl             one line per input that was rejected, with its reason

Images are referenced by paths relative to the dataset's image root (the manifest's
`image_root`, itself relative to DIR unless absolute). Paths inside records are never
trusted: `resolve_image` refuses anything that leaves the root.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "vitflow.json"
REJECTS = "rejects.jsonl"
SHARD_PREFIX = "records-"
IMAGE_TOKEN = "<image>"
ROLES = ("human", "gpt")


class RecordError(ValueError):
    """A record that cannot be parsed; the message names the record and the reason."""


class UnsafePathError(RecordError):
    """A path inside a data file that points outside the data root."""


@dataclass
class Annotation:
    """One object in an image. `box` is normalized (x1, y1, x2, y2) in [0, 1]."""

    label: str
    box: list[float] | None = None
    shape: str | None = None
    color: str | None = None
    size: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Annotation:
        if not isinstance(d, dict) or "label" not in d:
            raise RecordError(f"annotation must be an object with a label, got {d!r:.80}")
        box = d.get("box")
        if box is not None:
            if not (isinstance(box, list | tuple) and len(box) == 4):
                raise RecordError(f"box must be 4 numbers x1,y1,x2,y2, got {box!r:.80}")
            box = [float(v) for v in box]
            x1, y1, x2, y2 = box
            if not (0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1):
                raise RecordError(f"box {box} is not normalized x1<=x2, y1<=y2 in [0, 1]")
        return cls(
            label=str(d["label"]),
            box=box,
            shape=d.get("shape"),
            color=d.get("color"),
            size=d.get("size"),
        )


@dataclass
class Record:
    """An image (or none, for text-only samples), what is in it, and what is said about it."""

    id: str
    image: str | None = None
    width: int | None = None
    height: int | None = None
    source: str = ""
    split: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    conversations: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, deep: bool = True) -> dict[str, Any]:
        # Written by hand: dataclasses.asdict deep-copies and was half of curate's time.
        # None fields inside annotations are dropped so shards stay compact and stable.
        return {
            "id": self.id,
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "source": self.source,
            "split": self.split,
            "annotations": [
                {k: v for k, v in vars(a).items() if v is not None} for a in self.annotations
            ],
            "captions": list(self.captions),
            "conversations": [dict(t) for t in self.conversations],
            "metadata": copy.deepcopy(self.metadata) if deep else self.metadata,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(deep=False), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any) -> Record:
        if not isinstance(d, dict):
            raise RecordError(f"record must be a JSON object, got {type(d).__name__}")
        rid = d.get("id")
        if rid is None or str(rid) == "":
            raise RecordError("record has no id")
        try:
            convs = d.get("conversations") or []
            if not isinstance(convs, list) or not all(
                isinstance(t, dict) and "from" in t and "value" in t for t in convs
            ):
                raise RecordError("conversations must be a list of {from, value} turns")
            caps = d.get("captions") or []
            if not isinstance(caps, list):
                raise RecordError("captions must be a list of strings")
            image = d.get("image")
            return cls(
                id=str(rid),
                image=None if image in (None, "") else str(image),
                width=_opt_int(d.get("width")),
                height=_opt_int(d.get("height")),
                source=str(d.get("source") or ""),
                split=str(d.get("split") or ""),
                annotations=[Annotation.from_dict(a) for a in d.get("annotations") or []],
                captions=[str(c) for c in caps],
                conversations=[{"from": str(t["from"]), "value": str(t["value"])} for t in convs],
                metadata=dict(d.get("metadata") or {}),
            )
        except RecordError as e:
            raise RecordError(f"record {rid}: {e}") from None
        except (TypeError, ValueError) as e:
            raise RecordError(f"record {rid}: {e}") from None


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


# --- safe paths -----------------------------------------------------------------------------


def resolve_image(root: str | Path, rel: str) -> Path:
    """Return the absolute path of `rel` under `root`, refusing anything that escapes it.

    Absolute paths, `..` that climbs out, and symlinks pointing outside are all refused:
    data files come from strangers, and `../../etc/passwd` is a classic.
    """
    if rel is None or rel == "":
        raise UnsafePathError("empty image path")
    if "\x00" in rel:
        raise UnsafePathError(f"image path {rel!r} contains a NUL byte")
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePathError(
            f"image path {rel!r} is absolute; paths must be relative to the data root"
        )
    root_r = _resolved_root(str(root))
    full = (root_r / p).resolve()
    if full != root_r and root_r not in full.parents:
        raise UnsafePathError(f"image path {rel!r} escapes the data root")
    return full


def open_rgb(image: Any, rid: str, image_root: str | Path | None = None) -> Any:
    """An example's image as an RGB PIL image (None when it has none): a PIL image as it
    is, a path resolved safely under `image_root` (as given when there is no root). An
    unreadable file is a ValueError naming the record."""
    from PIL import Image

    if image is None or image == "":
        return None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = resolve_image(image_root, str(image)) if image_root else Path(image)
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as e:
        raise ValueError(f"record {rid}: cannot read image {path}: {e}") from e


@functools.lru_cache(maxsize=64)
def _resolved_root(root: str) -> Path:
    # Resolving the root costs a syscall per path component; a dataset has one root.
    return Path(root).resolve()


# --- atomic writes and shards ---------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so a reader sees the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear_temp_files(folder: str | Path) -> list[str]:
    """Remove the temporary files of atomic writes a killed run left in `folder` (a run
    that owns the folder calls this before writing; DVC would otherwise version them)."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    """A metrics/report file: atomic, indented, keys sorted (stable diffs in `dvc metrics`)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write dict rows as JSON lines; returns the count."""
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def write_shard(path: str | Path, records: Iterable[Record]) -> int:
    """Write one shard atomically, then its completion marker (count + sha256)."""
    path = Path(path)
    data = "".join(r.to_json() + "\n" for r in records).encode("utf-8")
    atomic_write_bytes(path, data)
    count = data.count(b"\n")
    marker = {"count": count, "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_text(_marker(path), json.dumps(marker))
    return count


def shard_is_complete(path: str | Path) -> bool:
    """True when the shard's marker exists and matches its bytes (a torn write fails this)."""
    path = Path(path)
    m = _marker(path)
    if not (path.exists() and m.exists()):
        return False
    try:
        marker = json.loads(m.read_text())
    except json.JSONDecodeError:
        return False
    return marker.get("sha256") == hashlib.sha256(path.read_bytes()).hexdigest()


def read_shard(path: str | Path) -> Iterator[Record]:
    path = Path(path)
    if not shard_is_complete(path):
        raise RecordError(f"shard {path} is incomplete (no valid completion marker)")
    for d in read_jsonl(path):
        yield Record.from_dict(d)


# --- datasets -------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A folder of shards plus its manifest."""

    path: Path
    image_root: Path
    count: int
    shards: list[str]
    info: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.exists():
            raise FileNotFoundError(
                f"{path} is not a vitflow dataset (no {MANIFEST}); was it written completely?"
            )
        m = json.loads(mpath.read_text())
        root = Path(m.get("image_root", "."))
        root = root if root.is_absolute() else (path / root)
        return cls(path, root, int(m["count"]), list(m["shards"]), m.get("info", {}))

    def __iter__(self) -> Iterator[Record]:
        for name in self.shards:
            yield from read_shard(self.path / name)

    def __len__(self) -> int:
        return self.count

    def resolve(self, rec: Record) -> Path:
        if rec.image is None:
            raise RecordError(f"record {rec.id}: has no image")
        return resolve_image(self.image_root, rec.image)

    def rejects(self) -> list[dict[str, Any]]:
        p = self.path / REJECTS
        return list(read_jsonl(p)) if p.exists() else []


def write_dataset(
    out: str | Path,
    records: Iterable[Record],
    image_root: str | Path = ".",
    rejects: Iterable[dict[str, Any]] = (),
    shard_size: int = 10_000,
    info: dict[str, Any] | None = None,
) -> Dataset:
    """Write records as shards, the rejects file, and last the manifest.

    Old shards in `out` are removed first so a smaller rerun leaves no stale shard behind.
    `image_root` is stored relative to `out` when it lies inside it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    clear_temp_files(out)
    for old in out.glob(f"{SHARD_PREFIX}*.jsonl*"):
        old.unlink()
    shards: list[str] = []
    count = 0
    buf: list[Record] = []

    def flush() -> None:
        nonlocal count
        name = f"{SHARD_PREFIX}{len(shards):05d}.jsonl"
        count += write_shard(out / name, buf)
        shards.append(name)
        buf.clear()

    for rec in records:
        buf.append(rec)
        if len(buf) >= shard_size:
            flush()
    if buf or not shards:
        flush()
    write_jsonl(out / REJECTS, rejects)
    return write_manifest(out, count, shards, image_root, info)


def write_manifest(
    out: Path, count: int, shards: list[str], image_root: str | Path, info: dict[str, Any] | None
) -> Dataset:
    """The dataset-level completion marker, written last. The image root is stored relative
    to `out`, so the repo (and DVC's copy of it) can move without breaking datasets."""
    rel = os.path.relpath(Path(image_root).resolve(), Path(out).resolve())
    manifest = {"count": count, "shards": shards, "image_root": rel, "info": info or {}}
    atomic_write_text(Path(out) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    return Dataset.open(out)


def reject(rid: Any, stage: str, reason: str, **extra: Any) -> dict[str, Any]:
    """One line of a rejects file: which input, which step refused it, and why."""
    row = {"id": None if rid is None else str(rid), "stage": stage, "reason": reason}
    row.update(extra)
    return row
