"""Splits by duplicate group: deterministic, roughly the configured ratios, no leakage."""

from __future__ import annotations

import numpy as np
import pytest

from vit.dedup.groups import Pairs, components
from vit.dedup.splits import assign_splits, leakage, normalize_ratios
from vit.records import Record


def test_ratios_hold_on_many_groups_and_are_deterministic():
    ids = [f"r{k:05d}" for k in range(20_000)]
    splits, _ = assign_splits(ids, np.arange(len(ids)), {"train": 0.9, "val": 0.05, "test": 0.05})
    share = {s: splits.count(s) / len(ids) for s in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.9, abs=0.01)
    assert share["val"] == pytest.approx(0.05, abs=0.006)
    assert splits == assign_splits(ids, np.arange(len(ids)))[0]
    assert splits != assign_splits(ids, np.arange(len(ids)), seed=1)[0]


def test_a_group_never_crosses_splits_and_leakage_is_zero():
    rng = np.random.default_rng(0)
    n = 3000
    ids = [f"x{k}" for k in range(n)]
    pairs = Pairs(rng.integers(0, n, 1500), rng.integers(0, n, 1500), np.ones(1500))
    labels = components(n, pairs)
    splits, keys = assign_splits(ids, labels, {"train": 0.5, "val": 0.25, "test": 0.25})
    for lab in np.unique(labels):
        rows = np.flatnonzero(labels == lab)
        assert len({splits[r] for r in rows}) == 1 and len({keys[r] for r in rows}) == 1
    named = [(ids[a], ids[b]) for a, b in zip(pairs.i, pairs.j, strict=True)]
    assert leakage(dict(zip(ids, splits, strict=True)), named) == 0


def test_leakage_counts_cross_split_pairs_of_present_records():
    recs = [
        Record(id="a", split="train"),
        Record(id="b", split="test"),
        Record(id="c", split="train"),
    ]
    assert leakage(recs, [("a", "b"), ("a", "c"), ("a", "gone")]) == 1


def test_ratios_are_normalized_and_validated():
    assert normalize_ratios({"train": 8, "val": 1, "test": 1, "extra": 0}) == {
        "train": 0.8,
        "val": 0.1,
        "test": 0.1,
    }
    with pytest.raises(ValueError):
        normalize_ratios({"train": -1})
