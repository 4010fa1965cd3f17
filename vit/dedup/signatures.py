"""Pass 1 of dedup: compact per-record signatures (hashes, sizes, texts), no images; and the
embeddings a method asks for, computed only for the rows it needs and cached by content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vit.dedup.config import DedupConfig
from vit.records import Dataset, Record, RecordError, read_shard

BATCH = 1024  # records held in memory at once in pass 1


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


def text_embeddings(sig: Signatures, rows: np.ndarray, config: DedupConfig) -> np.ndarray:
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


def image_embeddings(sig: Signatures, rows: np.ndarray, config: DedupConfig, progress: bool):
    """Image embeddings of `rows`, cached under curate's pixel hash (survives a re-save)."""
    from vit.embed import embed_images_cached

    emb = _embedder(config.embedder, config.embedder_kwargs)
    paths = [sig.paths[r] for r in rows]
    keys = _image_keys(sig.pixel[rows], sig.pixel_ok[rows], paths)
    root = config.cache_root or None
    return embed_images_cached(emb, paths, keys, cache_root=root, progress=progress)


def _image_keys(pixel: np.ndarray, pixel_ok: np.ndarray, paths: list) -> list[str]:
    """The cache key of each image: curate's pixel hash, else the file's sha256."""
    from vit.embed.cache import file_sha256

    return [
        px.tobytes().hex() if ok else file_sha256(p)
        for px, ok, p in zip(pixel, pixel_ok, paths, strict=True)
    ]


def embed_shard(src: str | Path, shard: str, config: DedupConfig) -> dict[str, Any]:
    """Embed the images of one input shard into the embedding cache, under the keys dedup
    looks up: the fan-out half of dedup's embedding. Dedup is global, but its embedding is
    per image, so the flow runs one of these per shard (on Dask workers when the task runner
    is Dask) and the global task then finds every vector cached. Returns what it did."""
    from vit.dedup.exact import digest_bytes
    from vit.embed import embed_images_cached
    from vit.embed.cache import EmbeddingCache

    if not config.cache_root:
        raise ValueError("embed_shard fills the embedding cache: set dedup.cache_root")
    ds = Dataset.open(src)
    if shard not in ds.shards:
        raise ValueError(f"{src}: no shard {shard!r} in its manifest")
    paths, pixels = [], []
    for rec in read_shard(ds.path / shard):
        path, hashes = _image_signature(rec, ds)
        if path is not None:
            paths.append(path)
            pixels.append(hashes.get("pixel"))
    pixel, pixel_ok = digest_bytes(pixels)
    keys = _image_keys(pixel, pixel_ok, paths)
    emb = _embedder(config.embedder, config.embedder_kwargs)
    cache = EmbeddingCache(config.cache_root, emb.key)
    new = sum(key not in cache for key in set(keys))
    if new:
        embed_images_cached(emb, paths, keys, cache_root=config.cache_root, progress=False)
    return {"shard": shard, "images": len(paths), "embedded": new}
