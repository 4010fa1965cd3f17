"""Embeddings cached by content hash: a rerun embeds nothing, an incremental run only the new.

    ROOT/<namespace-dir>/meta.json            {"namespace": embedder key, "dim": d}
    ROOT/<namespace-dir>/shard-<stamp>.npy    float32 (n, d), np.save, never pickled
    ROOT/<namespace-dir>/shard-<stamp>.keys   n lines, the content hash of each row

One namespace per embedder `key` (model content + config), so vectors of two models never
mix. Shards are append-only: a put writes a new shard, the `.npy` first and the `.keys`
second, each atomically (temp file + rename); a shard counts only once its `.keys` file
exists, so a run killed mid-write leaves at most an orphan `.npy`, never a wrong vector,
and everything put before the kill is kept. `compact()` merges many small shards.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vit.records import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from vit.embed.base import Embedder

META = "meta.json"
# Embed (and persist) this many new items at a time: a killed run loses at most one chunk.
CHUNK = 4096


def namespace_dir(namespace: str) -> str:
    """A filesystem-safe folder name for a namespace: readable prefix + exact hash."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", namespace).strip("-.")[:80]
    return f"{slug}-{hashlib.sha256(namespace.encode()).hexdigest()[:12]}"


class EmbeddingCache:
    """Content key -> float32 vector, for one embedder namespace."""

    def __init__(self, root: str | Path, namespace: str) -> None:
        self.root = Path(root)
        self.namespace = namespace
        self.dir = self.root / namespace_dir(namespace)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the shard list (another process may have added shards)."""
        self._index: dict[str, tuple[int, int]] = {}
        self._shards: list[Path] = []
        self._arrays: dict[int, np.ndarray] = {}
        meta = self.dir / META
        self.dim: int | None = json.loads(meta.read_text())["dim"] if meta.is_file() else None
        for keys_file in sorted(self.dir.glob("shard-*.keys")):
            shard = len(self._shards)
            self._shards.append(keys_file.with_suffix(".npy"))
            # split on "\n" only: str.splitlines would also split on \x1c, \u2028 and kin
            lines = keys_file.read_text(encoding="utf-8").split("\n")[:-1]
            for row, key in enumerate(lines):
                self._index.setdefault(key, (shard, row))

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def get_many(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask (n,), float32 (n, dim)); rows not found are zero. With nothing
        stored yet the dim is unknown and the array is (n, 0)."""
        found = np.zeros(len(keys), dtype=bool)
        out = np.zeros((len(keys), self.dim or 0), dtype=np.float32)
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for i, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is not None:
                found[i] = True
                by_shard.setdefault(hit[0], []).append((i, hit[1]))
        for shard, pairs in by_shard.items():
            pos, rows = np.array(pairs).T
            out[pos] = self._array(shard)[rows]
        return found, out

    def put_many(self, keys: Sequence[str], array: np.ndarray) -> int:
        """Store rows under keys (keys already present are skipped); returns rows written."""
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != len(keys):
            raise ValueError(f"need ({len(keys)}, d) rows for {len(keys)} keys, got {array.shape}")
        if self.dim is not None and array.shape[1] != self.dim:
            raise ValueError(f"cache {self.dir} holds dim {self.dim}, got {array.shape[1]}")
        new: dict[str, int] = {}
        for i, key in enumerate(keys):
            _check_key(key)
            if key not in self._index and key not in new:
                new[key] = i
        if not new:
            return 0
        self._write_shard(list(new), array[list(new.values())])
        return len(new)

    def compact(self) -> None:
        """Merge every shard into one (fewer files to open on the next run)."""
        if len(self._shards) < 2:
            return
        old = list(self._shards)
        keys = list(self._index)
        _, vectors = self.get_many(keys)
        self._write_shard(keys, vectors)
        for path in old:
            path.with_suffix(".keys").unlink(missing_ok=True)  # unlist first, then delete
            path.unlink(missing_ok=True)
        self.refresh()

    def _write_shard(self, keys: list[str], vectors: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.dim is None:
            meta = {"namespace": self.namespace, "dim": int(vectors.shape[1])}
            atomic_write_text(self.dir / META, json.dumps(meta) + "\n")
            self.dim = int(vectors.shape[1])
        stem = f"shard-{time.time_ns():020d}-{os.getpid()}"
        buf = io.BytesIO()
        np.save(buf, vectors, allow_pickle=False)
        atomic_write_bytes(self.dir / f"{stem}.npy", buf.getvalue())
        atomic_write_text(self.dir / f"{stem}.keys", "".join(k + "\n" for k in keys))
        shard = len(self._shards)
        self._shards.append(self.dir / f"{stem}.npy")
        self._arrays[shard] = vectors
        for row, key in enumerate(keys):
            self._index[key] = (shard, row)

    def _array(self, shard: int) -> np.ndarray:
        if shard not in self._arrays:
            # mmap: a lookup of a few keys in a big shard reads only their rows.
            self._arrays[shard] = np.load(self._shards[shard], mmap_mode="r", allow_pickle=False)
        return self._arrays[shard]


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or any(c in key for c in "\r\n"):
        raise ValueError(f"cache keys must be non-empty one-line strings, got {key!r:.80}")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_images_cached(
    embedder: Embedder,
    paths: Sequence[str | Path],
    keys: Sequence[str] | None = None,
    cache_root: str | Path | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """`embedder.embed_images(paths)`, computing only rows whose key is not cached.

    `keys` are content hashes from the caller (e.g. curate's pixel hash, which survives a
    re-save); None hashes the file bytes. `cache_root=None` embeds everything, caches nothing.
    """
    if keys is None:
        keys = [file_sha256(p) for p in paths]
    return _cached(embedder, embedder.embed_images, list(paths), list(keys), cache_root, progress)


def embed_texts_cached(
    embedder: Embedder,
    texts: Sequence[str],
    keys: Sequence[str] | None = None,
    cache_root: str | Path | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """`embedder.embed_texts(texts)` through the cache; the key of a text is its sha256."""
    if keys is None:
        keys = [text_sha256(t) for t in texts]
    return _cached(embedder, embedder.embed_texts, list(texts), list(keys), cache_root, progress)


def _cached(embedder, embed, items: list, keys: list[str], cache_root, progress) -> np.ndarray:
    from vit.embed.base import progress_bar

    if len(keys) != len(items):
        raise ValueError(f"{len(keys)} keys for {len(items)} items")
    if cache_root is None:
        return embed(items, progress=progress)
    cache = EmbeddingCache(cache_root, embedder.key)
    found, hits = cache.get_many(keys)
    if cache.dim not in (None, embedder.dim):
        raise ValueError(f"{cache.dir} holds dim {cache.dim}, {embedder.key} makes {embedder.dim}")
    out = np.zeros((len(items), embedder.dim), dtype=np.float32)
    if found.any():
        out[found] = hits[found]
    first: dict[str, int] = {}  # one embedding per distinct key, however often it repeats
    for i in np.flatnonzero(~found):
        first.setdefault(keys[i], int(i))
    todo = list(first.values())
    with progress_bar(len(todo), f"embed {embedder.name} (new)", progress) as bar:
        for lo in range(0, len(todo), CHUNK):
            idx = todo[lo : lo + CHUNK]
            vectors = embed([items[i] for i in idx], progress=False)
            cache.put_many([keys[i] for i in idx], vectors)
            out[idx] = vectors
            bar.update(len(idx))
    for i in np.flatnonzero(~found):
        out[i] = out[first[keys[i]]]
    return out
