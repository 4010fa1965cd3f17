"""k-center greedy against a brute-force reference that recomputes every distance each step."""

from __future__ import annotations

import numpy as np
import pytest

from vit.active.kcenter import (
    coverage_radius,
    k_center_greedy,
    kmeans_pp_picks,
    nearest_center_distances,
)


def brute_force(x: np.ndarray, budget: int, centers: np.ndarray, first: int | None) -> list[int]:
    """The greedy rule spelled out: all pairwise distances, every step, no FAISS."""
    picks: list[int] = [] if first is None else [first]
    while len(picks) < budget:
        c = np.concatenate([centers, x[picks]]) if picks else centers
        d = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)).min(1)
        d[picks] = -1.0
        picks.append(int(np.argmax(d)))
    return picks


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_labeled_centers(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 5))
    centers = rng.normal(size=(int(rng.integers(1, 6)), 5))
    picks, start = k_center_greedy(x, 12, centers)
    assert picks == brute_force(x, 12, centers, None)
    want = np.sqrt(((x[:, None] - centers[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(start, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_without_centers(seed):
    x = np.random.default_rng(seed).normal(size=(40, 3))
    picks, start = k_center_greedy(x, 10, None, np.random.default_rng(seed))
    first = int(np.random.default_rng(seed).integers(40))
    assert picks == brute_force(x, 10, np.zeros((0, 3)), first)
    assert np.isinf(start).all()


def test_distinct_even_with_duplicate_points_and_whole_pool():
    x = np.repeat(np.eye(3), 4, axis=0)  # 12 points, 3 distinct positions
    picks, _ = k_center_greedy(x, 12, x[:1])
    assert sorted(picks) == list(range(12))
    # The first three picks cover the three positions not yet covered first.
    assert {tuple(x[i]) for i in picks[:2]} == {(0, 1, 0), (0, 0, 1)}


def test_greedy_covers_within_twice_the_best_radius_on_small_inputs():
    from itertools import combinations

    x = np.random.default_rng(9).normal(size=(14, 2))
    k = 3
    dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    best = min(dist[:, list(c)].min(1).max() for c in combinations(range(14), k))
    picks, _ = k_center_greedy(x, k, None, np.random.default_rng(0))
    assert coverage_radius(x, x[picks]) <= 2 * best + 1e-9


def test_budget_checks_and_faiss_distances():
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    with pytest.raises(ValueError):
        k_center_greedy(x, 6)
    assert k_center_greedy(x, 0)[0] == []
    d = nearest_center_distances(x, x[:2])
    assert d[0] == pytest.approx(0, abs=1e-3) and d[1] == pytest.approx(0, abs=1e-3)


def test_typicality_against_brute_force_and_outliers():
    from vit.active.kcenter import typicality

    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (40, 4)), rng.normal(5, 0.1, (1, 4))])
    t = typicality(x, k=5)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    ref = 1.0 / np.sort(d, axis=1)[:, :5].mean(1)
    np.testing.assert_allclose(t, ref, rtol=1e-4)
    assert int(np.argmin(t)) == 40  # the outlier is the least typical
    assert len(typicality(x[:1])) == 1


def test_kmeans_pp_starts_at_the_largest_norm_and_never_draws_a_duplicate():
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(5, 3))
    x = np.repeat(distinct, 3, axis=0)  # every point three times
    x[7] *= 10.0  # one far-out point (its two twins stay where they were)
    for seed in range(10):
        picks = kmeans_pp_picks(x, 6, np.random.default_rng(seed))
        assert picks[0] == 7 and len(set(picks)) == 6
        # the first 6 picks cover the 6 distinct rows: a copy of a pick has weight 0
        assert len({tuple(np.round(x[i], 9)) for i in picks}) == 6
    # more than the distinct rows: the rest are drawn uniformly, still distinct indices
    assert len(set(kmeans_pp_picks(x, 15, np.random.default_rng(1)))) == 15
    with pytest.raises(ValueError, match="budget"):
        kmeans_pp_picks(x, 16, rng)


def test_kmeans_pp_draws_in_proportion_to_squared_distance():
    """After the first pick (the origin-farthest point, index 0), a point at distance 3 from
    it is drawn 9 times as often as one at distance 1."""
    x = np.array([[11.0, 0.0], [10.0, 0.0], [8.0, 0.0]])
    second = [kmeans_pp_picks(x, 2, np.random.default_rng(s))[1] for s in range(2000)]
    assert np.mean(np.array(second) == 2) == pytest.approx(0.9, abs=0.03)
