"""Pairs, connected components and keep policies (which duplicate survives)."""

from __future__ import annotations

import numpy as np
import pytest

from vit.dedup.groups import Pairs, components, group_pairs, rank, resolve


def test_canonical_orders_dedupes_and_keeps_best_similarity():
    p = Pairs([3, 1, 1, 2], [1, 3, 2, 2], [0.5, 0.9, 0.7, 1.0]).canonical()
    assert list(zip(p.i.tolist(), p.j.tolist(), strict=True)) == [(1, 2), (1, 3)]
    assert p.sim.tolist() == pytest.approx([0.7, 0.9])


def test_components_label_connected_rows():
    labels = components(6, Pairs([0, 1, 4], [1, 2, 5], [1, 1, 1]))
    assert labels[0] == labels[1] == labels[2]
    assert labels[4] == labels[5] != labels[0]
    assert len(set(labels.tolist())) == 3  # {0,1,2}, {3}, {4,5}


def test_group_pairs_are_stars_around_the_best_ranked_member():
    labels = np.array([7, -1, 7, 7, 2, 2])
    order = np.array([5, 0, 1, 9, 3, 2])  # row 2 leads group 7, row 5 leads group 2
    p = group_pairs(labels, order)
    assert sorted(zip(p.i.tolist(), p.j.tolist(), strict=True)) == [(2, 0), (2, 3), (5, 4)]


def test_resolve_keeps_a_chain_end_that_is_not_a_duplicate_of_a_kept_row():
    # a~b and b~c but not a~c: keep a, drop b (dup of a), keep c (its only neighbour is gone)
    pairs = Pairs([0, 1], [1, 2], [0.99, 0.98])
    r = resolve(pairs, np.arange(3))
    assert r.rows.tolist() == [1] and r.duplicate_of.tolist() == [0]


def test_resolve_points_at_the_most_similar_kept_row():
    pairs = Pairs([0, 1, 2], [3, 3, 3], [0.91, 0.99, 0.95])
    order = np.array([0, 1, 2, 3])
    r = resolve(Pairs([0], [1], [0.5]), order)  # 0 kept, 1 removed
    assert r.rows.tolist() == [1]
    r = resolve(pairs, order)
    assert r.rows.tolist() == [3] and r.duplicate_of.tolist() == [1]


def test_resolve_ignores_dead_rows():
    pairs = Pairs([0, 1], [1, 2], [0.99, 0.99])
    alive = np.array([False, True, True])
    r = resolve(pairs, np.arange(3), alive)
    assert r.rows.tolist() == [2] and r.duplicate_of.tolist() == [1]


@pytest.mark.parametrize(
    ("policy", "kept"),
    [("priority", 2), ("first", 0), ("central", 1), ("least_central", 0)],
)
def test_keep_policies(policy, kept):
    res = np.array([100, 100, 400])
    caps = np.array([1, 5, 1])
    cen = np.array([0.2, 0.9, 0.5])
    order = rank(policy, 3, resolution=res, n_captions=caps, centrality=cen)
    r = resolve(Pairs([0, 0, 1], [1, 2, 2], [1, 1, 1]), order)
    assert set(range(3)) - set(r.rows.tolist()) == {kept}


def test_priority_breaks_ties_by_captions_then_order():
    order = rank("priority", 3, resolution=np.array([9, 9, 9]), n_captions=np.array([1, 3, 3]))
    assert order.tolist() == [2, 0, 1]


def test_random_policy_is_seeded():
    a, b = rank("random", 50, seed=1), rank("random", 50, seed=1)
    assert a.tolist() == b.tolist() and a.tolist() != rank("random", 50, seed=2).tolist()
    with pytest.raises(ValueError, match="keep policy"):
        rank("biggest", 3)
