"""Load the pipeline's records and every decision about them into a FiftyOne dataset.

    from vit.review.sync import sync
    sync("vitflow", ingested="data/ingested/scenes", curated="data/curated/scenes",
         deduped="data/deduped/scenes", embeddings="data/embeddings/scenes.npz")

Each record becomes one sample keyed by `vit_id`, with the latest verdict about it:
`status` kept / rejected (by ingest or curate, with filter, reason and measured value) /
duplicate (with what it duplicates, how, and how closely), its dup group and split.
Re-running updates samples in place and never touches their tags, which belong to the
reviewers (see vit.review.tags).

Speed: FiftyOne's `add_samples` builds a mongoengine document per sample and label and
validates each one (0.3-0.4k samples/s here with ~5 boxes a sample); `set_values` and
`merge_samples` keyed on a field are slower still. sync instead writes the documents
FiftyOne would write (tests/review check them against FiftyOne's own serialization and
read them through the App's server) with one unordered pymongo bulk upsert per batch, and
skips samples whose content hash has not changed, so a re-sync of an unchanged pipeline
writes nothing: 3-4k samples/s into a new dataset, 8-11x add_samples
(bench/fiftyone_sync.py).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vit.records import Dataset, Record, RecordError, read_jsonl, resolve_image
from vit.review import db, views
from vit.review.db import DETECTION_ATTRS, EMBEDDING_FIELD

DUPLICATES = "duplicates.jsonl"
SIMILARITY_KEY = "vit_sim"
# Part of every sample's hash: bump it when the stored fields change, so the next sync
# rewrites samples written by an older vitflow instead of skipping them as unchanged.
SCHEMA_VERSION = 1

Embeddings = tuple[Sequence[str], np.ndarray]


@dataclass
class SyncReport:
    """What a sync did; `samples` and `status` describe the FiftyOne dataset afterwards."""

    name: str
    samples: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    leaky_groups: int = 0
    stale: int = 0
    embeddings: int = 0
    views: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Entry:
    """One record, the image root its path is relative to, and the decision about it."""

    record: Record
    root: Path
    decision: dict[str, Any]


@dataclass
class _Groups:
    """Dup groups of the dedup output: id -> group, group -> size and the splits it spans."""

    of: dict[str, str] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    splits: dict[str, set[str]] = field(default_factory=dict)

    def leaky(self) -> set[str]:
        return {g for g, s in self.splits.items() if len(s) > 1}


@db.reachable("FiftyOne sync")
def sync(
    name: str,
    *,
    ingested: str | Path | None = None,
    curated: str | Path | None = None,
    deduped: str | Path | None = None,
    embeddings: Embeddings | str | Path | None = None,
    prune: bool = False,
    batch_size: int = 2000,
) -> SyncReport:
    """Load the outputs of ingest, curate and dedup (dataset folders; any may be None) into
    the persistent FiftyOne dataset `name`, creating it if needed.

    `embeddings` is `(ids, float32 array)` or an `.npz` with arrays `ids` and `embeddings`;
    with it, samples get an `embedding` vector field and a similarity index (`vit_sim`).
    Samples no input mentions any more are counted as `stale` and deleted only if `prune`.
    """
    t0 = time.perf_counter()
    report = SyncReport(name)
    emb = _load_embeddings(embeddings)
    ds = db.open_dataset(name, with_embeddings=emb is not None)
    groups = _dedup_groups(deduped)
    seen = _write(ds, _entries(ingested, curated, deduped), groups, emb, report, batch_size)
    stale = set(ds.distinct("vit_id")) - seen
    report.stale = len(stale)
    if prune and stale:
        ds.delete_samples(ds.select_by("vit_id", sorted(stale)))
    ds.reload()
    samples = db.exact_count(ds)  # before len(ds) is used: right after a database crash too
    if emb is not None:
        changed = report.inserted + report.updated > 0 or (prune and bool(stale))
        report.embeddings = _index_similarity(ds, changed)
    report.views = views.save_views(ds)
    report.samples = samples
    report.status = dict(sorted(ds.count_values("status").items()))
    report.leaky_groups = len(groups.leaky())
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


# --- reading the pipeline's outputs ----------------------------------------------------------


def _entries(
    ingested: str | Path | None, curated: str | Path | None, deduped: str | Path | None
) -> Iterator[_Entry | str]:
    """Every record with its latest decision, latest stage first (the caller keeps the first
    entry per id). Yields a reason string for a row that carries no usable record."""
    if deduped is not None:
        ds = Dataset.open(deduped)
        for row in _rows(ds.path / DUPLICATES):
            yield _from_row(row, ds.image_root, _duplicate_decision(row))
        yield from (_Entry(r, ds.image_root, {"status": "kept"}) for r in ds)
    for path in (curated, ingested):
        if path is None:
            continue
        ds = Dataset.open(path)
        for row in ds.rejects():
            yield _from_row(row, ds.image_root, _reject_decision(row))
        yield from (_Entry(r, ds.image_root, {"status": "kept"}) for r in ds)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    return read_jsonl(path) if path.exists() else iter(())


def _from_row(row: dict[str, Any], root: Path, decision: dict[str, Any]) -> _Entry | str:
    if not isinstance(row.get("record"), dict):
        return "no_record"
    try:
        return _Entry(Record.from_dict(row["record"]), root, decision)
    except RecordError:
        return "unparsable_record"


def _reject_decision(row: dict[str, Any]) -> dict[str, Any]:
    # Ingest rejects name their checks in `codes`; curate rejects name one `filter`.
    codes = row.get("codes") or []
    value = row.get("value")
    return {
        "status": "rejected",
        "reject_stage": row.get("stage"),
        "curate_filter": row.get("filter") or (",".join(map(str, codes)) or None),
        "curate_reason": row.get("reason"),
        "curate_value": _number(value),
    }


def _duplicate_decision(row: dict[str, Any]) -> dict[str, Any]:
    dup_of = row.get("duplicate_of")
    return {
        "status": "duplicate",
        "duplicate_of": None if dup_of is None else str(dup_of),
        "dup_kind": row.get("kind"),
        "similarity": _number(row.get("similarity")),
    }


def _number(v: Any) -> float | None:
    """A measured value as a float for range filters in the App; text values stay in the
    reason, which always states them."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _dedup_groups(deduped: str | Path | None) -> _Groups:
    """A first pass over the dedup output: every member's group, each group's size (its kept
    plus removed members, or what dedup declared if larger) and the splits it spans."""
    groups = _Groups()
    if deduped is None:
        return groups
    ds = Dataset.open(deduped)
    members: Counter[str] = Counter()
    # Plain JSON, not Records: only three keys are needed here, and the main pass parses
    # (and checks the completion marker of) every shard anyway.
    for row in (r for shard in ds.shards for r in read_jsonl(ds.path / shard)):
        info = (row.get("metadata") or {}).get("dedup") or {}
        if info.get("group") is None:
            continue
        g = groups.of[str(row["id"])] = str(info["group"])
        members[g] += 1
        groups.size[g] = max(groups.size.get(g, 0), int(info.get("group_size") or 1))
        if row.get("split"):
            groups.splits.setdefault(g, set()).add(str(row["split"]))
    for row in _rows(ds.path / DUPLICATES):
        info = ((row.get("record") or {}).get("metadata") or {}).get("dedup") or {}
        dup_of = row.get("duplicate_of")
        g = info.get("group", groups.of.get(str(dup_of), dup_of))
        if g is not None and row.get("id") is not None:
            g = groups.of[str(row["id"])] = str(g)
            members[g] += 1
    for g, n in members.items():
        groups.size[g] = max(groups.size.get(g, 0), n)
    return groups


def _load_embeddings(x: Embeddings | str | Path | None) -> tuple[dict[str, int], np.ndarray] | None:
    if x is None:
        return None
    if isinstance(x, str | Path):
        with np.load(x, allow_pickle=False) as z:
            ids, arr = z["ids"], z["embeddings"]
    else:
        ids, arr = x
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 2 or len(arr) != len(ids):
        raise ValueError(f"embeddings: need (n, d) rows for n ids, got {arr.shape} for {len(ids)}")
    return {str(i): k for k, i in enumerate(ids)}, arr


# --- writing samples ----------------------------------------------------------------------------


def _write(
    ds: Any,
    entries: Iterator[_Entry | str],
    groups: _Groups,
    emb: tuple[dict[str, int], np.ndarray] | None,
    report: SyncReport,
    batch_size: int,
) -> set[str]:
    """Upsert every changed sample in batches; returns the ids the inputs mention."""
    known = db.known_hashes(ds)
    writer = db.SampleWriter(ds, batch_size)
    leaky, seen, skipped = groups.leaky(), set(), Counter()
    for e in entries:
        if isinstance(e, str):
            skipped[e] += 1
            continue
        rid = e.record.id
        if rid in seen:
            continue  # a later stage already decided about this record
        seen.add(rid)
        path = _image_path(e)
        if isinstance(path, str):
            skipped[path] += 1
            continue
        vec = None if emb is None or rid not in emb[0] else emb[1][emb[0][rid]]
        fields = _fields(e, path, groups, leaky)
        fields["vit_hash"] = _hash(fields, vec)
        if known.get(rid) == fields["vit_hash"]:
            report.unchanged += 1
            continue
        if rid in known:
            report.updated += 1
        else:
            report.inserted += 1
        writer.add(db.to_mongo(fields, vec))
    writer.flush()
    report.skipped = dict(sorted(skipped.items()))
    return seen


def _image_path(e: _Entry) -> Path | str:
    if e.record.image is None:
        return "no_image"
    try:
        path = resolve_image(e.root, e.record.image)
    except RecordError:
        return "unsafe_path"
    return path if path.is_file() else "missing_image"


def _fields(e: _Entry, path: Path, groups: _Groups, leaky: set[str]) -> dict[str, Any]:
    """The sample's fields in plain form (boxes as FiftyOne's relative [x, y, w, h])."""
    rec, d = e.record, e.decision
    group = groups.of.get(rec.id)
    dets = [_detection(a) for a in rec.annotations if a.box is not None]
    wh = {"width": rec.width, "height": rec.height} if rec.width and rec.height else None
    return {
        "filepath": str(path),
        "vit_id": rec.id,
        "metadata": wh,
        "ground_truth": dets,
        "labels": [a.label for a in rec.annotations],
        "captions": rec.captions,
        "conversations": rec.conversations,
        "source": rec.source or None,
        "split": rec.split or None,
        "status": d["status"],
        **{k: d.get(k) for k in ("reject_stage", "curate_filter", "curate_reason")},
        **{k: d.get(k) for k in ("curate_value", "duplicate_of", "dup_kind", "similarity")},
        "dup_group": group,
        "dup_group_size": groups.size.get(group) if group is not None else None,
        "leaky_split": group in leaky if d["status"] == "kept" else None,
    }


def _detection(a: Any) -> dict[str, Any]:
    x1, y1, x2, y2 = a.box
    # Rounded so 0.6 - 0.2 reads 0.4, not 0.39999999999999997, in the App.
    det = {"label": a.label, "bounding_box": [x1, y1, round(x2 - x1, 9), round(y2 - y1, 9)]}
    det.update({k: getattr(a, k) for k in DETECTION_ATTRS if getattr(a, k) is not None})
    return det


def _hash(fields: dict[str, Any], vec: np.ndarray | None) -> str:
    h = hashlib.sha1(orjson.dumps([SCHEMA_VERSION, fields], option=orjson.OPT_SORT_KEYS))
    if vec is not None:
        h.update(np.ascontiguousarray(vec, dtype=np.float32).tobytes())
    return h.hexdigest()


def _index_similarity(ds: Any, changed: bool) -> int:
    """A sklearn similarity index over the `embedding` field ("find similar" in the App).

    It reads vectors from the field when loaded, so it is rebuilt only when samples change.
    """
    import fiftyone.brain as fob

    view = ds.exists(EMBEDDING_FIELD)
    n = len(view)
    exists = ds.has_brain_run(SIMILARITY_KEY)
    if exists and not changed:
        return n
    if exists:
        ds.delete_brain_run(SIMILARITY_KEY)
    if n:
        target = ds if n == len(ds) else view
        fob.compute_similarity(
            target, embeddings=EMBEDDING_FIELD, backend="sklearn", brain_key=SIMILARITY_KEY
        )
    return n
