"""Semantic duplicates: pairs of unit-norm embeddings with cosine similarity > 1 - eps.

    pairs, info = semantic_pairs(x, eps=0.01)       # x: float32 (n, d), rows L2-normalized

Up to `exact_max` rows the search is exact: `faiss.IndexFlatIP.range_search` (BLAS blocks,
all pairs). Above it, SemDeDup (Abbas et al. 2023; NeMo Curator's semantic dedup):

1. project to `reduce_dim` dimensions by PCA (clustering only needs coarse geometry, and it
   makes k-means and the assignment 8x cheaper at d=512), renormalize;
2. spherical `faiss.Kmeans` into k clusters (few iterations, trained on a subsample), on
   every GPU faiss sees when faiss-gpu is installed (`pip install '.[gpu]'`), else on CPU;
3. assign every row to its `n_probe` nearest centroids;
4. inside each cluster, exact cosine in full dimension, in blocks: the cluster's members
   (rows whose nearest centroid it is) against themselves and against the rows for which it
   is a 2nd..n_probe-th choice. A pair split by a cluster border is still found when one
   row's second choice is the other's first. Never an N x N matrix.

Cost is n*k*reduce_dim for the assignment plus about n_probe*n^2*d/k for the blocks, so k
defaults to sqrt(n_probe * n * d / reduce_dim) (about 4000 for 1M x 512). Figures from
`bench/semdedup.py` (1M x 512, 2 cores) are in its docstring.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vit.dedup.groups import Pairs

EXACT_MAX = 20_000
N_PROBE = 2
NITER = 10
REDUCE_DIM = 64
POINTS_PER_CENTROID = 32
BLOCK = 4096


def semantic_pairs(
    x: np.ndarray,
    eps: float,
    exact_max: int = EXACT_MAX,
    n_clusters: int | None = None,
    n_probe: int = N_PROBE,
    niter: int = NITER,
    seed: int = 0,
    reduce_dim: int = REDUCE_DIM,
) -> tuple[Pairs, dict[str, Any]]:
    """All pairs with cosine > 1 - eps (exact), or those SemDeDup finds (large sets)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) < 2:
        return Pairs.empty(), {"method": "none"}
    if len(x) <= exact_max:
        return flat_pairs(x, 1.0 - eps), {"method": "flat"}
    return semdedup_pairs(x, 1.0 - eps, n_clusters, n_probe, niter, seed, reduce_dim)


def flat_pairs(x: np.ndarray, threshold: float) -> Pairs:
    """Exact all-pairs range search on inner product (= cosine on unit rows)."""
    import faiss

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    lims, sim, nbr = index.range_search(x, float(threshold))
    q = np.repeat(np.arange(len(x)), np.diff(lims).astype(np.int64))
    keep = q < nbr
    return Pairs(q[keep], nbr[keep], sim[keep])


def default_clusters(n: int, d: int, n_probe: int = N_PROBE, reduce_dim: int = REDUCE_DIM) -> int:
    """k balancing the assignment (n*k*d') against the blocks (n_probe*n^2*d/k)."""
    k = int(np.sqrt(n_probe * n * d / max(1, min(d, reduce_dim))))
    return max(1, min(k, n // 8))


def semdedup_pairs(
    x: np.ndarray,
    threshold: float,
    n_clusters: int | None = None,
    n_probe: int = N_PROBE,
    niter: int = NITER,
    seed: int = 0,
    reduce_dim: int = REDUCE_DIM,
) -> tuple[Pairs, dict[str, Any]]:
    """SemDeDup's pair search: k-means, then exact cosine inside each cluster."""
    n, d = x.shape
    k = n_clusters or default_clusters(n, d, n_probe, reduce_dim)
    y = _reduce(x, reduce_dim, seed)
    assign, centrality = _cluster(y, k, min(n_probe, k), niter, seed)
    found = [_cluster_pairs(x, members, extra, threshold) for members, extra in _clusters(assign)]
    pairs = Pairs.concat(found).canonical()
    sizes = np.bincount(assign[:, 0], minlength=k)
    info = {
        "method": "semdedup",
        "n_clusters": k,
        "n_probe": int(assign.shape[1]),
        "reduce_dim": int(y.shape[1]),
        "largest_cluster": int(sizes.max()),
        "centrality": centrality,
    }
    return pairs, info


def _reduce(x: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """PCA to `dim` dimensions (trained on at most 100k rows), rows renormalized."""
    import faiss

    if dim <= 0 or dim >= x.shape[1]:
        return x
    pca = faiss.PCAMatrix(x.shape[1], dim)
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), min(len(x), 100_000), replace=False))]
    pca.train(sample)
    y = np.empty((len(x), dim), dtype=np.float32)
    for lo in range(0, len(x), 65_536):  # bounded temporaries
        y[lo : lo + 65_536] = pca.apply(x[lo : lo + 65_536])
    faiss.normalize_L2(y)
    return y


def _cluster(y: np.ndarray, k: int, n_probe: int, niter: int, seed: int):
    """Spherical k-means; each row's n_probe nearest centroids and its cosine to the first."""
    import faiss

    km = faiss.Kmeans(
        y.shape[1],
        k,
        niter=niter,
        spherical=True,
        seed=seed,
        max_points_per_centroid=POINTS_PER_CENTROID,
        verbose=False,
        gpu=gpu_count(),  # 0 (CPU) with faiss-cpu or no visible GPU
    )
    km.train(y)
    sim, assign = km.index.search(y, n_probe)
    return assign.astype(np.int64), sim[:, 0].copy()


def gpu_count() -> int:
    """GPUs faiss can use: 0 with faiss-cpu. Only k-means goes there; faiss's GPU indexes
    have no range search, so the exact pair searches stay on CPU."""
    import faiss

    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


def _clusters(assign: np.ndarray):
    """(members, extra) row arrays per cluster: first choices, and later choices."""
    k = int(assign.max()) + 1
    first = _by_label(assign[:, 0], k)
    later = [_by_label(assign[:, p], k) for p in range(1, assign.shape[1])]
    for c in range(k):
        members = first[c]
        if len(members) == 0:
            continue
        extra = np.concatenate([lv[c] for lv in later]) if later else np.zeros(0, np.int64)
        yield members, extra


def _by_label(labels: np.ndarray, k: int) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(k)]


def _cluster_pairs(x: np.ndarray, members: np.ndarray, extra: np.ndarray, thr: float) -> Pairs:
    """Members x members (upper triangle) and extra x members, blockwise."""
    parts = []
    xm = x[members]
    for lo in range(0, len(members), BLOCK):
        sim = x[members[lo : lo + BLOCK]] @ xm.T
        r, c = np.nonzero(sim > thr)
        keep = c > r + lo  # upper triangle only: each pair once, no self pairs
        parts.append(Pairs(members[r[keep] + lo], members[c[keep]], sim[r[keep], c[keep]]))
    for lo in range(0, len(extra), BLOCK):
        sim = x[extra[lo : lo + BLOCK]] @ xm.T
        r, c = np.nonzero(sim > thr)
        parts.append(Pairs(extra[r + lo], members[c], sim[r, c]))
    return Pairs.concat(parts)


def group_centrality(x: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine of each of `rows` to the mean embedding of its group (`labels`), NaN elsewhere:
    the "most central" keep policy's key, defined the same for flat and SemDeDup search."""
    out = np.full(len(labels), np.nan, dtype=np.float32)
    if len(rows) == 0:
        return out
    rows = np.asarray(rows, dtype=np.int64)
    groups, inv = np.unique(labels[rows], return_inverse=True)
    means = np.zeros((len(groups), x.shape[1]), dtype=np.float64)
    np.add.at(means, inv, x[rows])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    out[rows] = np.einsum("nd,nd->n", x[rows], means[inv].astype(np.float32))
    return out
