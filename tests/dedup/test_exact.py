"""Exact duplicates: rows grouped by the sha256 of their decoded pixels."""

from __future__ import annotations

import hashlib

import numpy as np

from vit.dedup.exact import digest_bytes, exact_groups, exact_pairs


def _h(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def test_rows_with_one_hash_form_a_group_and_missing_hashes_never_match():
    keys, valid = digest_bytes([_h("a"), _h("b"), _h("a"), None, None, _h("a")])
    labels = exact_groups(keys, valid)
    assert labels[0] == labels[2] == labels[5] >= 0
    assert labels[1] == labels[3] == labels[4] == -1


def test_pairs_point_at_the_best_ranked_copy():
    keys, valid = digest_bytes([_h("a"), _h("a"), _h("a"), _h("b")])
    p = exact_pairs(keys, np.array([2, 0, 1, 3]), valid)
    assert sorted(zip(p.i.tolist(), p.j.tolist(), strict=True)) == [(1, 0), (1, 2)]
    assert p.sim.tolist() == [1.0, 1.0]
