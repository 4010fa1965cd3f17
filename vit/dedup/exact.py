"""Exact duplicates: rows whose decoded pixels hash the same.

The hash is curate's `metadata["hashes"]["pixel"]` (sha256 of the size and the RGB bytes),
so a re-saved or re-compressed PNG still matches while any changed pixel does not. Rows are
grouped with one `np.unique` over 32-byte keys: O(n log n), 32 bytes a row in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vit.dedup.groups import Pairs, group_pairs

DIGEST_BYTES = 32


def digest_bytes(hexes: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32) uint8 keys from sha256 hex digests, and a mask of rows that have one."""
    out = np.zeros((len(hexes), DIGEST_BYTES), dtype=np.uint8)
    valid = np.zeros(len(hexes), dtype=bool)
    for k, h in enumerate(hexes):
        if h:
            out[k] = np.frombuffer(bytes.fromhex(h), np.uint8)[:DIGEST_BYTES]
            valid[k] = True
    return out, valid


def exact_groups(keys: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Group label per row for rows that share a key with another row, else -1.

    Rows outside `valid` (no hash known) never join a group."""
    keys = np.ascontiguousarray(keys, dtype=np.uint8)
    labels = np.full(len(keys), -1, dtype=np.int64)
    rows = np.arange(len(keys)) if valid is None else np.flatnonzero(valid)
    if len(rows) == 0:
        return labels
    flat = keys[rows].view(np.dtype((np.void, keys.shape[1]))).reshape(-1)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    labels[rows] = np.where(counts[inverse] > 1, inverse, -1)
    return labels


def exact_pairs(keys: np.ndarray, rank: np.ndarray, valid: np.ndarray | None = None) -> Pairs:
    """Every duplicate row paired with the best-ranked row of its group, similarity 1."""
    return group_pairs(exact_groups(keys, valid), rank)
