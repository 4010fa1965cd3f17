"""Train / val / test splits by duplicate group, so no near duplicate crosses splits.

A group is a connected component of every pair any dedup method found (removed or not:
two semantic neighbours that were both kept still go together). Its split is drawn from a
seeded hash of the group's smallest id, so it does not depend on shard order, on which
record survived, or on the other groups: adding data never moves an existing group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from vit.records import Record

DEFAULT_RATIOS = {"train": 0.9, "val": 0.05, "test": 0.05}


def normalize_ratios(ratios: Mapping[str, float] | None) -> dict[str, float]:
    """Ratios as fractions summing to 1, in their given order; zero-ratio splits dropped."""
    ratios = dict(DEFAULT_RATIOS if ratios is None else ratios)
    if not ratios or any(v < 0 for v in ratios.values()) or sum(ratios.values()) <= 0:
        raise ValueError(f"split ratios must be non-negative and not all zero, got {ratios}")
    total = float(sum(ratios.values()))
    return {k: v / total for k, v in ratios.items() if v > 0}


def split_of(key: str, ratios: Mapping[str, float], seed: int = 0) -> str:
    """The split of one group key: a uniform draw from sha256(seed, key)."""
    h = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    acc = 0.0
    names = list(ratios)
    for name in names:
        acc += ratios[name]
        if u < acc:
            return name
    return names[-1]  # u within float rounding of 1


def group_keys(ids: Sequence[str], labels: np.ndarray) -> list[str]:
    """The smallest id of each row's group: the group's stable name."""
    first: dict[int, str] = {}
    for rid, lab in zip(ids, labels.tolist(), strict=True):
        if lab not in first or rid < first[lab]:
            first[lab] = rid
    return [first[lab] for lab in labels.tolist()]


def assign_splits(
    ids: Sequence[str], labels: np.ndarray, ratios: Mapping[str, float] | None = None, seed: int = 0
) -> tuple[list[str], list[str]]:
    """(split, group key) per row; rows of one group always share a split."""
    norm = normalize_ratios(ratios)
    keys = group_keys(ids, labels)
    by_key: dict[str, str] = {}
    for k in keys:
        if k not in by_key:
            by_key[k] = split_of(k, norm, seed)
    return [by_key[k] for k in keys], keys


def leakage(records: Mapping[str, str] | Iterable[Record], pairs: Iterable[tuple[str, str]]) -> int:
    """Duplicate pairs whose two records are both present but in different splits.

    `records` is `{id: split}` or records with `.split`; pairs naming an absent record
    (removed as a duplicate) cannot leak and are not counted."""
    split = dict(records) if isinstance(records, Mapping) else {r.id: r.split for r in records}
    return sum(1 for a, b in pairs if a in split and b in split and split[a] != split[b])
