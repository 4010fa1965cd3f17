"""Dedup a curated dataset: exact, near, semantic, joint and text duplicates; leak-free splits.

    from vit.dedup.run import DedupConfig, dedup
    summary = dedup("data/curated/scenes", "data/dedup/scenes", DedupConfig(eps=0.02),
                    overrides={"keep": [...], "reject": [...]})

Pass 1 streams the shards and keeps only compact signatures per record (hashes as bytes,
resolution, caption count, image path, instruction text): a few hundred bytes a record,
plus embeddings (d float32 each) for the records a method needs. Then each
method finds pairs among the records still alive, in order exact -> near -> semantic ->
joint -> text, and `groups.resolve` removes all but one of each duplicate set under the keep
policy. Splits are drawn per connected component of every pair found. Pass 2 streams the
shards again and writes:

    OUT/records-*.jsonl    kept records, `split` set, metadata["dedup"] = {"group", "group_size"}
    OUT/duplicates.jsonl   one line per removed record: id, duplicate_of (a kept record),
                           kind (exact|near|semantic|joint|text|review), similarity, group,
                           group_size, `matched` when the direct match was itself removed,
                           and the whole record (nothing is lost; review can restore it)
    OUT/vitflow.json       the manifest (with the summary in its info), written last

Review overrides `{"keep": [ids], "reject": [ids]}`: a removed duplicate in `keep` comes
back (same group, so same split); an id in `reject` is removed with kind "review" before any
method runs, so it can never be the copy that others are removed in favour of.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vit.dedup.config import METHODS, DedupConfig
from vit.dedup.groups import Pairs, Removal, components, rank, resolve
from vit.dedup.signatures import Signatures, collect, image_embeddings, text_embeddings
from vit.dedup.splits import assign_splits
from vit.overrides import normalize_overrides
from vit.records import Dataset, Record, write_jsonl, write_manifest, write_shard

DUPLICATES = "duplicates.jsonl"
NEAR_DRAFT = (256, 256)  # the near check never looks above 128 px: let JPEG decode small


@dataclass
class Found:
    """What the methods decided: per row, the removal kind (or ""), duplicate_of, sim."""

    kind: np.ndarray
    dup_of: np.ndarray
    sim: np.ndarray
    pairs: dict[str, Pairs] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    image_pairs: Pairs | None = None  # image neighbours at the joint threshold
    embeddings: tuple[np.ndarray, np.ndarray] | None = None  # (rows, vectors) semantic used
    matched: dict[int, int] = field(default_factory=dict)  # row -> the removed row it matched

    @classmethod
    def empty(cls, n: int) -> Found:
        return cls(np.full(n, "", dtype=object), np.full(n, -1, np.int64), np.full(n, np.nan))

    def remove(self, kind: str, removal: Removal) -> None:
        self.kind[removal.rows] = kind
        self.dup_of[removal.rows] = removal.duplicate_of
        self.sim[removal.rows] = removal.sim

    @property
    def alive(self) -> np.ndarray:
        return self.kind == ""


def dedup(
    src: str | Path,
    out: str | Path,
    config: DedupConfig | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Dedup dataset `src` into `out`; returns the summary (counts per kind, leakage)."""
    config = config or DedupConfig()
    ov = normalize_overrides(overrides)
    t0 = time.perf_counter()
    ds = Dataset.open(src)
    sig = collect(ds, config, progress)
    found = find(sig, config, ov["reject"], progress)
    restored = _restore(found, sig, ov["keep"])
    _follow_to_survivors(found)
    labels = components(len(sig), Pairs.concat(list(found.pairs.values())))
    splits, keys = assign_splits(sig.ids, labels, config.split_ratios, config.seed)
    summary = _summary(sig, found, splits, labels, restored, config)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    _write(ds, Path(out), sig, found, splits, keys, labels, summary, config)
    _save_embeddings(Path(out), sig, found)
    return summary


def _save_embeddings(out: Path, sig: Signatures, found: Found) -> None:
    """OUT/embeddings.npz (ids, embeddings): FiftyOne's "find similar" index and active
    learning reuse the vectors semantic dedup computed instead of embedding again."""
    path = out / "embeddings.npz"
    path.unlink(missing_ok=True)
    if found.embeddings is None:
        return
    rows, x = found.embeddings
    ids = np.asarray([sig.ids[r] for r in rows], dtype=str)  # unicode: loads without pickle
    tmp = out / ".embeddings.tmp.npz"
    np.savez(tmp, ids=ids, embeddings=x.astype(np.float32))
    os.replace(tmp, path)


# --- the methods, in order ------------------------------------------------------------------


def find(sig: Signatures, config: DedupConfig, reject: list[str], progress: bool = False) -> Found:
    """Run the enabled methods in order; each sees only rows no earlier one removed."""
    found = Found.empty(len(sig))
    found.kind[np.isin(np.asarray(sig.ids, dtype=object), reject)] = "review"
    order = _rank(config, sig)
    steps = {"exact": _exact, "near": _near, "semantic": _semantic, "joint": _joint, "text": _text}
    for method in METHODS:
        # joint needs the image neighbours that the semantic search finds
        if method in config.methods or (method == "semantic" and "joint" in config.methods):
            t = time.perf_counter()
            pairs, order_m = steps[method](sig, config, found, order, progress)
            if method in config.methods:
                found.pairs[method] = pairs
                found.remove(method, resolve(pairs, order_m, found.alive))
            found.info.setdefault("seconds", {})[method] = round(time.perf_counter() - t, 2)
    return found


def _rank(config: DedupConfig, sig: Signatures, centrality: np.ndarray | None = None):
    res, caps = sig.resolution, sig.n_captions
    return rank(
        config.keep,
        len(sig),
        resolution=res,
        n_captions=caps,
        centrality=centrality,
        seed=config.seed,
    )


def _exact(sig, config, found, order, progress):
    from vit.dedup.exact import exact_pairs

    return exact_pairs(sig.pixel, order, valid=sig.pixel_ok & found.alive), order


def _near(sig, config, found, order, progress):
    from vit.dedup.near import near_pairs
    from vit.embed.base import load_rgb

    pairs, info = near_pairs(
        sig.phash, sig.dhash, sig.hash_ok & found.alive, lambda r: load_rgb(sig.paths[r], NEAR_DRAFT),
        config.hamming_radius, config.dhash_radius, config.near_verify,
        config.near_prefilter, config.near_min_similarity,
    )  # fmt: skip
    found.info["near"] = info
    return pairs, order


def _semantic(sig, config, found, order, progress):
    """Image pairs at the looser of eps and joint's eps; semantic takes the strict ones."""
    from vit.dedup.semantic import group_centrality, semantic_pairs

    rows = np.flatnonzero(found.alive & sig.has_image)
    wide = max(config.eps, config.joint_image_eps if "joint" in config.methods else 0.0)
    x = image_embeddings(sig, rows, config, progress)
    found.embeddings = (rows, x)
    local, info = semantic_pairs(
        x,
        wide,
        config.semantic_exact_max,
        config.n_clusters or None,
        config.n_probe,
        seed=config.seed,
    )
    info.pop("centrality", None)
    found.info["semantic"] = {**info, "rows": len(rows)}
    found.image_pairs = Pairs(rows[local.i], rows[local.j], local.sim)
    pairs = found.image_pairs.select(found.image_pairs.sim > 1.0 - config.eps)
    if config.keep in ("central", "least_central") and len(pairs):
        full = np.zeros((len(sig), x.shape[1]), dtype=np.float32)
        full[rows] = x
        members = np.unique(np.r_[pairs.i, pairs.j])
        order = _rank(config, sig, group_centrality(full, components(len(sig), pairs), members))
    return pairs, order


def _joint(sig, config, found, order, progress):
    from vit.dedup.text import joint_pairs

    image = (found.image_pairs or Pairs.empty()).among(found.alive)
    if len(image) == 0:
        return image, order
    text = text_embeddings(sig, np.unique(np.r_[image.i, image.j]), config)
    return joint_pairs(image, text, config.text_eps), order


def _text(sig, config, found, order, progress):
    from vit.dedup.semantic import semantic_pairs

    scope = found.alive & np.array([bool(t) for t in sig.texts], dtype=bool)
    if config.text_scope == "text_only":
        scope &= ~sig.has_image
    rows = np.flatnonzero(scope)
    if len(rows) < 2:
        return Pairs.empty(), order
    x = text_embeddings(sig, rows, config)[rows]
    local, _ = semantic_pairs(x, config.text_eps, config.semantic_exact_max, seed=config.seed)
    return Pairs(rows[local.i], rows[local.j], local.sim), order


def _restore(found: Found, sig: Signatures, keep: list[str]) -> list[str]:
    """Review's `keep`: removed duplicates come back (a review rejection stays)."""
    wanted = np.isin(np.asarray(sig.ids, dtype=object), keep) & ~found.alive
    wanted &= found.kind != "review"
    rows = np.flatnonzero(wanted)
    found.kind[rows], found.dup_of[rows], found.sim[rows] = "", -1, np.nan
    return [sig.ids[r] for r in rows]


def _follow_to_survivors(found: Found) -> None:
    """Point each removed row at a kept row: B removed for A, then A removed for C, makes
    B's duplicate_of C (and `found.matched` remembers that B matched A)."""
    for row in np.flatnonzero(found.dup_of >= 0):
        dup, seen = int(found.dup_of[row]), 0
        while found.kind[dup] != "" and found.dup_of[dup] >= 0 and seen < len(found.kind):
            dup, seen = int(found.dup_of[dup]), seen + 1
        if dup != found.dup_of[row]:
            found.matched[int(row)] = int(found.dup_of[row])
            found.dup_of[row] = dup


def _summary(sig, found, splits, labels, restored, config) -> dict[str, Any]:
    from vit.dedup.splits import leakage

    alive = found.alive
    kept_split = {sig.ids[r]: splits[r] for r in np.flatnonzero(alive)}
    all_pairs = Pairs.concat(list(found.pairs.values()))
    names = ((sig.ids[a], sig.ids[b]) for a, b in zip(all_pairs.i, all_pairs.j, strict=True))
    sizes = np.bincount(labels)
    return {
        "read": len(sig),
        "kept": int(alive.sum()),
        "removed": int((~alive).sum()),
        "removed_by": dict(sorted(Counter(found.kind[~alive].tolist()).items())),
        "pairs_by_method": {k: len(p) for k, p in found.pairs.items()},
        "exchanges_dropped": int(sum(len(v) for v in sig.dropped.values())),
        "restored_by_review": len(restored),
        "groups": int(len(sizes)),
        "groups_with_duplicates": int((sizes > 1).sum()),
        "splits": dict(sorted(Counter(kept_split.values()).items())),
        "leakage": leakage(kept_split, names),
        "method_info": found.info,
        "config": config.params(),
    }


def _write(ds, out: Path, sig, found, splits, keys, labels, summary, config) -> None:
    """Kept shards, duplicates.jsonl, then the manifest (the completion marker) last."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "vitflow.json").unlink(missing_ok=True)
    for old in out.glob("records-*.jsonl*"):
        old.unlink()
    sizes = np.bincount(labels)
    shards: list[str] = []
    buf: list[Record] = []
    count = 0
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{DUPLICATES}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as dup_file:
            for row, rec in enumerate(ds):
                if rec.id != sig.ids[row]:  # the input changed between the two passes
                    raise RuntimeError(f"{ds.path} changed during dedup (row {row})")
                size = int(sizes[labels[row]])
                if not found.alive[row]:
                    line = _dup_row(rec, row, sig, found, keys[row], size)
                    dup_file.write(json.dumps(line, sort_keys=True) + "\n")
                    continue
                buf.append(_kept(rec, sig, splits[row], keys[row], size))
                if len(buf) >= config.shard_size:
                    count += _flush(out, shards, buf)
            if buf or not shards:
                count += _flush(out, shards, buf)
        os.replace(tmp, out / DUPLICATES)
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_jsonl(out / "rejects.jsonl", [])
    write_manifest(out, count, shards, ds.image_root, {"stage": "dedup", "summary": summary})


def _flush(out: Path, shards: list[str], buf: list[Record]) -> int:
    name = f"records-{len(shards):05d}.jsonl"
    n = write_shard(out / name, buf)
    shards.append(name)
    buf.clear()
    return n


def _kept(rec: Record, sig: Signatures, split: str, key: str, size: int) -> Record:
    rec.split = split
    meta: dict[str, Any] = {"group": key, "group_size": size}
    dropped = sig.dropped.get(rec.id)
    if dropped:
        from vit.dedup.text import drop_exchanges

        rec.conversations = drop_exchanges(rec.conversations, [d["index"] for d in dropped])
        meta["dropped_exchanges"] = dropped
    rec.metadata["dedup"] = meta
    return rec


def _dup_row(rec: Record, row: int, sig: Signatures, found: Found, key: str, size: int) -> dict:
    dup = int(found.dup_of[row])
    sim = float(found.sim[row])
    extra = {"matched": sig.ids[found.matched[row]]} if row in found.matched else {}
    return {
        **extra,
        "id": rec.id,
        "duplicate_of": sig.ids[dup] if dup >= 0 else None,
        "kind": str(found.kind[row]),
        "similarity": None if np.isnan(sim) else round(sim, 6),
        "group": key,
        "group_size": size,
        "record": rec.to_dict(),
    }
