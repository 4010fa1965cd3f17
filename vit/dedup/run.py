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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vit.dedup.groups import KEEP_POLICIES, Pairs, Removal, components, rank, resolve
from vit.dedup.splits import DEFAULT_RATIOS, assign_splits, normalize_ratios
from vit.records import Dataset, Record, RecordError, write_jsonl, write_manifest, write_shard

METHODS = ("exact", "near", "semantic", "joint", "text")
DUPLICATES = "duplicates.jsonl"
BATCH = 1024  # records held in memory at once in pass 1
NEAR_DRAFT = (256, 256)  # the near check never looks above 128 px: let JPEG decode small


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DedupConfig:
    """Every knob of `vit dedup`; params.yaml's `dedup` section maps onto these fields."""

    methods: list[str] = _f(list(METHODS), f"methods to run, any of {METHODS}")
    keep: str = _f("priority", f"which duplicate survives: one of {KEEP_POLICIES}")
    hamming_radius: int = _f(10, "near: pHash candidates within this many of 64 bits")
    dhash_radius: int = _f(4, "near: also dHash candidates within this radius (-1: off)")
    near_verify: bool = _f(True, "near: accept a hash candidate only if aligned thumbnails agree")
    near_prefilter: float = _f(0.8, "near: 12x12 thumbnail cosine a candidate must pass first")
    near_min_similarity: float = _f(
        0.975, "near: aligned thumbnail (or crop window) cosine to accept"
    )
    eps: float = _f(0.02, "semantic: image pairs with cosine > 1 - eps are duplicates")
    semantic_exact_max: int = _f(20_000, "semantic: exact flat search up to this many rows")
    n_clusters: int = _f(0, "semantic: SemDeDup k-means clusters (0: sqrt rule)")
    n_probe: int = _f(2, "semantic: clusters each row is searched in (border recall)")
    embedder: str = _f("classical", "image embedder name (vit.embed)")
    embedder_kwargs: dict[str, Any] = _f({}, "image embedder constructor arguments")
    text_embedder: str = _f("text", "text embedder name (vit.embed), MiniLM by default")
    text_embedder_kwargs: dict[str, Any] = _f({}, "text embedder constructor arguments")
    text_eps: float = _f(0.05, "text: instructions with cosine >= 1 - text_eps are duplicates")
    text_scope: str = _f("text_only", "text: 'text_only' (image-less records) or 'all'")
    joint_image_eps: float = _f(0.1, "joint: image cosine >= 1 - this, AND the text test")
    split_ratios: dict[str, float] = _f(
        dict(DEFAULT_RATIOS), "split name -> share, per duplicate group"
    )
    seed: int = _f(0, "seed of k-means, the random keep policy and the split draw")
    cache_root: str = _f("", "embedding cache folder ('' = no cache)")
    shard_size: int = _f(10_000, "records per output shard")

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown dedup methods {sorted(unknown)}; choose from {METHODS}")
        if self.keep not in KEEP_POLICIES:
            raise ValueError(f"unknown keep policy {self.keep!r}; choose from {KEEP_POLICIES}")
        if self.text_scope not in ("text_only", "all"):
            raise ValueError("text_scope must be 'text_only' or 'all'")
        normalize_ratios(self.split_ratios)

    def params(self) -> dict[str, Any]:
        return asdict(self)


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
    from vit.curate.run import normalize_overrides

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


# --- pass 1: signatures ---------------------------------------------------------------------


@dataclass
class Signatures:
    """What dedup keeps of each record between the two passes: compact arrays, no images."""

    ids: list[str]
    paths: list[str | None]  # resolved image path; None for text-only records
    pixel: np.ndarray  # (n, 32) uint8 sha256 of the decoded pixels
    pixel_ok: np.ndarray
    phash: np.ndarray  # (n, 8) uint8
    dhash: np.ndarray
    hash_ok: np.ndarray
    resolution: np.ndarray  # width * height
    n_captions: np.ndarray
    texts: list[str]  # the record's instruction text, minus exchanges dropped within it
    dropped: dict[str, list[dict[str, Any]]]  # id -> exchanges dropped within the record
    text_emb: dict[int, np.ndarray] = field(default_factory=dict)  # row -> vector, on demand

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_image(self) -> np.ndarray:
        return np.array([p is not None for p in self.paths], dtype=bool)


def collect(ds: Dataset, config: DedupConfig, progress: bool = False) -> Signatures:
    """Pass 1 over the shards, `BATCH` records in memory at a time."""
    from vit.dedup.exact import digest_bytes
    from vit.dedup.near import hex_codes

    cols: dict[str, list] = {k: [] for k in ("ids", "paths", "hashes", "res", "caps", "texts")}
    dropped: dict[str, list[dict[str, Any]]] = {}
    batch: list[Record] = []
    for rec in _progress(ds, progress, "dedup: read"):
        batch.append(rec)
        if len(batch) >= BATCH:
            _add_batch(batch, ds, config, cols, dropped)
    _add_batch(batch, ds, config, cols, dropped)
    pixel, pixel_ok = digest_bytes([h.get("pixel") for h in cols["hashes"]])
    phash, phash_ok = hex_codes([h.get("phash") for h in cols["hashes"]])
    dhash, dhash_ok = hex_codes([h.get("dhash") for h in cols["hashes"]])
    return Signatures(
        cols["ids"], cols["paths"], pixel, pixel_ok, phash, dhash, phash_ok & dhash_ok,
        np.asarray(cols["res"], dtype=np.int64), np.asarray(cols["caps"], dtype=np.int32),
        cols["texts"], dropped,
    )  # fmt: skip


def _add_batch(batch: list[Record], ds: Dataset, config: DedupConfig, cols, dropped) -> None:
    from vit.dedup.text import exchanges, within_record_drops

    per_record = [exchanges(r.conversations) for r in batch]
    if {"text", "joint"} & set(config.methods):
        ids = [r.id for r in batch]
        embed = lambda t: _embed_texts(t, config)  # noqa: E731
        dropped.update(within_record_drops(ids, per_record, embed, config.text_eps))
    for rec, ex in zip(batch, per_record, strict=True):
        path, hashes = _image_signature(rec, ds)
        gone = {d["index"] for d in dropped.get(rec.id, [])}
        cols["ids"].append(rec.id)
        cols["paths"].append(path)
        cols["hashes"].append({k: hashes.get(k) for k in ("pixel", "phash", "dhash")})
        cols["res"].append((rec.width or 0) * (rec.height or 0))
        cols["caps"].append(len(rec.captions))
        cols["texts"].append("\n\n".join(t for k, t in enumerate(ex) if k not in gone))
    batch.clear()


def _image_signature(rec: Record, ds: Dataset) -> tuple[str | None, dict[str, str]]:
    """(image path, curate's hashes); hashes are computed here only if curate did not run."""
    if rec.image is None:
        return None, {}
    try:
        path = str(ds.resolve(rec))
    except RecordError:
        return None, {}  # an unsafe path never gets past curate; stay safe anyway
    hashes = rec.metadata.get("hashes") or {}
    if all(hashes.get(k) for k in ("pixel", "phash", "dhash")):
        return path, hashes
    from vit.curate.hashes import image_hashes
    from vit.embed.base import load_rgb

    try:
        return path, image_hashes(load_rgb(path))
    except ValueError:  # undecodable: no hash, so it can match nothing
        return path, {}


def _progress(items, show: bool, desc: str):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="rec", leave=False)


# --- embeddings (computed only for the rows a method needs) ---------------------------------

_EMBEDDERS: dict[str, Any] = {}  # one model load per process, not one per batch


def _embedder(name: str, kwargs: dict[str, Any]):
    from vit.embed import get_embedder

    key = json.dumps([name, kwargs], sort_keys=True, default=str)
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = get_embedder(name, **kwargs)
    return _EMBEDDERS[key]


def _embed_texts(texts: list[str], config: DedupConfig) -> np.ndarray:
    from vit.embed import embed_texts_cached

    emb = _embedder(config.text_embedder, config.text_embedder_kwargs)
    return embed_texts_cached(emb, texts, cache_root=config.cache_root or None, progress=False)


def _texts_of(sig: Signatures, rows: np.ndarray, config: DedupConfig) -> np.ndarray:
    """(n, d) text embeddings, filled for `rows` (each distinct text embedded once)."""
    from vit.dedup.text import embed_unique

    todo = [int(r) for r in rows if int(r) not in sig.text_emb]
    if todo:
        vecs = embed_unique([sig.texts[r] for r in todo], lambda t: _embed_texts(t, config))
        sig.text_emb.update(zip(todo, vecs, strict=True))
    dim = next(iter(sig.text_emb.values())).shape[0] if sig.text_emb else 0
    out = np.zeros((len(sig), dim), dtype=np.float32)
    for r in rows:
        out[r] = sig.text_emb[int(r)]
    return out


def _images_of(sig: Signatures, rows: np.ndarray, config: DedupConfig, progress: bool):
    """Image embeddings of `rows`, cached under curate's pixel hash (survives a re-save)."""
    from vit.embed import embed_images_cached
    from vit.embed.cache import file_sha256

    emb = _embedder(config.embedder, config.embedder_kwargs)
    paths = [sig.paths[r] for r in rows]
    keys = [
        sig.pixel[r].tobytes().hex() if sig.pixel_ok[r] else file_sha256(p)
        for r, p in zip(rows, paths, strict=True)
    ]
    root = config.cache_root or None
    return embed_images_cached(emb, paths, keys, cache_root=root, progress=progress)


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
    x = _images_of(sig, rows, config, progress)
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
    text = _texts_of(sig, np.unique(np.r_[image.i, image.j]), config)
    return joint_pairs(image, text, config.text_eps), order


def _text(sig, config, found, order, progress):
    from vit.dedup.semantic import semantic_pairs

    scope = found.alive & np.array([bool(t) for t in sig.texts], dtype=bool)
    if config.text_scope == "text_only":
        scope &= ~sig.has_image
    rows = np.flatnonzero(scope)
    if len(rows) < 2:
        return Pairs.empty(), order
    x = _texts_of(sig, rows, config)[rows]
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
