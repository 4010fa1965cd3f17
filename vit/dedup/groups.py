"""Duplicate pairs, duplicate groups, and which record of a group survives.

Every dedup method (exact, near, semantic, text, joint) answers with `Pairs`: index arrays
`i`, `j` into the dataset's rows and a similarity per pair. What to do with them is decided
here, the same way for every method (datatrove's split of *find* from *filter*):

- `components(n, pairs)` labels the connected components (what a union-find over the pairs
  computes; scipy's C implementation does it in milliseconds for millions of pairs). Splits
  use these groups, so no duplicate crosses train/val/test.
- `rank(policy, ...)` orders the rows by a pluggable keep policy; `resolve(pairs, rank)`
  keeps rows greedily in that order and removes a row only when it is a duplicate of a row
  already kept. Unlike removing "everything that has a better neighbour" (SemDeDup's
  rule), a chain a~b~c where a and c are not alike keeps c: nothing is removed as the
  duplicate of something that was itself removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KEEP_POLICIES = ("priority", "first", "central", "least_central", "random")


@dataclass
class Pairs:
    """Candidate duplicate pairs (row indices) with one similarity each (higher = closer)."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray

    def __post_init__(self) -> None:
        self.i = np.asarray(self.i, dtype=np.int64).reshape(-1)
        self.j = np.asarray(self.j, dtype=np.int64).reshape(-1)
        self.sim = np.asarray(self.sim, dtype=np.float32).reshape(-1)

    def __len__(self) -> int:
        return len(self.i)

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))

    @classmethod
    def concat(cls, parts: Sequence[Pairs]) -> Pairs:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("i", "j", "sim")))

    def canonical(self) -> Pairs:
        """i < j, no self pairs, each pair once (its highest similarity)."""
        lo, hi = np.minimum(self.i, self.j), np.maximum(self.i, self.j)
        keep = lo != hi
        lo, hi, sim = lo[keep], hi[keep], self.sim[keep]
        order = np.lexsort((-sim, hi, lo))  # best similarity first within each pair
        lo, hi, sim = lo[order], hi[order], sim[order]
        first = np.ones(len(lo), dtype=bool)
        first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        return Pairs(lo[first], hi[first], sim[first])

    def select(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.i[mask], self.j[mask], self.sim[mask])

    def among(self, alive: np.ndarray) -> Pairs:
        """Only pairs whose two rows are both still alive (a boolean mask over rows)."""
        return self.select(alive[self.i] & alive[self.j])


def components(n: int, pairs: Pairs) -> np.ndarray:
    """Component label of each of n rows under the pairs (singletons get their own)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs.i, pairs.j)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def group_pairs(labels: np.ndarray, rank: np.ndarray) -> Pairs:
    """Star pairs from group labels (-1 = no group): every member to its group's best-ranked
    row, similarity 1. Stars, not cliques, so a group of k costs k-1 pairs."""
    rows = np.flatnonzero(labels >= 0)
    if len(rows) == 0:
        return Pairs.empty()
    order = rows[np.lexsort((rank[rows], labels[rows]))]
    lab = labels[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = lab[1:] != lab[:-1]
    leader = order[head][np.cumsum(head) - 1]
    members = ~head
    return Pairs(leader[members], order[members], np.ones(int(members.sum())))


def rank(
    policy: str,
    n: int,
    *,
    resolution: np.ndarray | None = None,
    n_captions: np.ndarray | None = None,
    centrality: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Position of each row in keep order (0 = kept first) under a keep policy.

    - priority: highest resolution, then most captions, then dataset order (the default:
      the copy with the most pixels and text is the one worth training on);
    - first: dataset order (datatrove's default);
    - central / least_central: closest to / farthest from its duplicate group's centre
      (SemDeDup's "easy" / "hard"); falls back to priority where no centrality is known;
    - random: a seeded shuffle.
    """
    if policy not in KEEP_POLICIES:
        raise ValueError(f"unknown keep policy {policy!r}; choose from {KEEP_POLICIES}")
    order = np.arange(n)
    if policy == "first":
        return order
    if policy == "random":
        return np.random.default_rng(seed).permutation(n)
    res = np.zeros(n) if resolution is None else np.asarray(resolution, dtype=np.float64)
    caps = np.zeros(n) if n_captions is None else np.asarray(n_captions, dtype=np.float64)
    keys = [order, -caps, -res]  # np.lexsort: last key is the primary one
    if policy in ("central", "least_central") and centrality is not None:
        cen = np.nan_to_num(np.asarray(centrality, dtype=np.float64), nan=-np.inf)
        keys.append(-cen if policy == "central" else cen)
    pos = np.empty(n, dtype=np.int64)
    pos[np.lexsort(keys)] = order
    return pos


@dataclass
class Removal:
    """Rows removed by one method: each with the kept row it duplicates and their similarity."""

    rows: np.ndarray
    duplicate_of: np.ndarray
    sim: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def resolve(pairs: Pairs, rank: np.ndarray, alive: np.ndarray | None = None) -> Removal:
    """Greedy keep in rank order: a row goes when a kept row is its duplicate.

    `alive` masks rows still in play (removed by an earlier method, or rejected in review):
    pairs touching a dead row are ignored. Only rows that appear in pairs are visited.
    """
    if alive is not None:
        pairs = pairs.among(alive)
    if len(pairs) == 0:
        return Removal(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    # Adjacency in CSR form over the rows that have any pair, visited best rank first.
    a = np.concatenate([pairs.i, pairs.j])
    b = np.concatenate([pairs.j, pairs.i])
    s = np.concatenate([pairs.sim, pairs.sim])
    order = np.argsort(a, kind="stable")
    a, b, s = a[order], b[order], s[order]
    nodes, starts = np.unique(a, return_index=True)
    ends = np.append(starts[1:], len(a))
    kept = np.zeros(len(rank), dtype=bool)
    rows, dup_of, sims = [], [], []
    for k in np.argsort(rank[nodes], kind="stable"):
        node, lo, hi = nodes[k], starts[k], ends[k]
        hits = kept[b[lo:hi]]
        if hits.any():
            best = lo + np.flatnonzero(hits)[np.argmax(s[lo:hi][hits])]
            rows.append(node)
            dup_of.append(b[best])
            sims.append(s[best])
        else:
            kept[node] = True
    return Removal(np.array(rows, np.int64), np.array(dup_of, np.int64), np.array(sims, np.float32))
