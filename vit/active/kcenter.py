"""k-center greedy (Sener & Savarese's core-set selection) over embeddings, with FAISS.

    picks, dist = k_center_greedy(pool_emb, budget=100, centers=labeled_emb)

Each pick is the pool point farthest from every center so far (the labeled set, then the
points already picked): a 2-approximation of the minimax facility-location problem, so the
picked set covers the embedding space. FAISS (`IndexFlatL2`) gives every pool point its
distance to the nearest labeled center in one search; after that each pick only needs the
distances to the one new center, an (n, d) product. Ties go to the lowest index, so a run
is deterministic; `tests/active/test_kcenter.py` checks it against a brute-force reference.
`kmeans_pp_picks` is BADGE's k-means++ seeding over the same squared distances;
`kmeans_labels` the FAISS k-means clusters the hybrid strategy picks from.
"""

from __future__ import annotations

import numpy as np


def nearest_center_distances(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point to its nearest center (FAISS exact search)."""
    import faiss

    pts = np.ascontiguousarray(points, dtype=np.float32)
    if len(centers) == 0:
        return np.full(len(pts), np.inf, dtype=np.float64)
    index = faiss.IndexFlatL2(pts.shape[1])
    index.add(np.ascontiguousarray(centers, dtype=np.float32))
    d2, _ = index.search(pts, 1)
    return np.sqrt(np.maximum(d2[:, 0].astype(np.float64), 0.0))


def typicality(points: np.ndarray, k: int = 20) -> np.ndarray:
    """TypiClust's typicality: 1 / mean Euclidean distance to the k nearest other points
    (FAISS exact search). High in dense regions, low for outliers."""
    import faiss

    pts = np.ascontiguousarray(points, dtype=np.float32)
    n = len(pts)
    if n < 2:
        return np.ones(n, dtype=np.float64)
    k = min(k, n - 1)
    index = faiss.IndexFlatL2(pts.shape[1])
    index.add(pts)
    d2, idx = index.search(pts, k + 1)
    d = np.sqrt(np.maximum(d2.astype(np.float64), 0.0))
    # drop each point itself (normally the first hit; duplicates may come in any order)
    own = idx == np.arange(n)[:, None]
    own[own.sum(1) == 0, -1] = True  # self not returned among ties: drop the farthest hit
    mean = (d.sum(1) - (d * own).sum(1)) / k
    return 1.0 / np.maximum(mean, 1e-12)


def k_center_greedy(
    points: np.ndarray,
    budget: int,
    centers: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[list[int], np.ndarray]:
    """(indices of `budget` distinct points picked greedily, each point's distance to the
    nearest of `centers` before any pick). With no centers the first pick is drawn by `rng`
    (index 0 without one)."""
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    if not 0 <= budget <= n:
        raise ValueError(f"budget {budget} for {n} points")
    c = np.zeros((0, x.shape[1] if x.ndim == 2 else 0)) if centers is None else centers
    start = nearest_center_distances(x, np.asarray(c))
    d2 = start**2
    picks: list[int] = []
    if budget and len(c) == 0:
        picks.append(int(rng.integers(n)) if rng is not None else 0)
        d2 = _update(x, d2, picks[-1])
    while len(picks) < budget:
        picks.append(int(np.argmax(d2)))
        d2 = _update(x, d2, picks[-1])
    return picks, start


def _update(x: np.ndarray, d2: np.ndarray, new: int) -> np.ndarray:
    """Squared distances to the nearest center once `new` is a center; picked points get
    -inf so that even exact duplicates of a center are never picked twice."""
    diff = x - x[new]
    out = np.minimum(d2, np.einsum("ij,ij->i", diff, diff))
    out[new] = -np.inf
    return out


def coverage_radius(points: np.ndarray, centers: np.ndarray) -> float:
    """The largest distance from any point to its nearest center (what k-center minimizes)."""
    return float(nearest_center_distances(points, centers).max()) if len(points) else 0.0


def kmeans_pp_picks(points: np.ndarray, budget: int, rng: np.random.Generator) -> list[int]:
    """BADGE's selection (Ash et al. 2020): k-means++ seeding. The first pick is the point
    of largest norm; each next one is drawn with probability proportional to its squared
    distance to the nearest pick so far. Far-out points (large gradients: the model is
    wrong or unsure) are favoured, but a point like one already picked is not, so the
    picks are both uncertain and diverse. Exact duplicates of a pick are never drawn;
    when only such points remain, the rest are drawn uniformly."""
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    if not 0 <= budget <= n:
        raise ValueError(f"budget {budget} for {n} points")
    if budget == 0:
        return []
    picks = [int(np.argmax(np.einsum("ij,ij->i", x, x)))]
    d2 = _update(x, np.full(n, np.inf), picks[-1])
    while len(picks) < budget:
        w = np.where(np.isfinite(d2), np.maximum(d2, 0.0), 0.0)
        if w.sum() <= 0:  # the rest coincide with picks: uniform over the unpicked
            w = np.isfinite(d2).astype(np.float64)
        picks.append(int(rng.choice(n, p=w / w.sum())))
        d2 = _update(x, d2, picks[-1])
    return picks


def kmeans_labels(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster of each row: FAISS k-means with k clusters (k <= rows)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    if k >= len(x):
        return np.arange(len(x))
    km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, verbose=False, min_points_per_centroid=1)
    km.train(x)
    _, assign = km.index.search(x, 1)
    return assign[:, 0]
