"""Length-grouped batches: a permutation, less padding than chance, reseeded per epoch."""

from __future__ import annotations

import numpy as np

from vit.train.sampler import LengthGroupedByEpoch


def padded(order: list[int], lengths: list[int], batch: int) -> int:
    """Tokens a batch-padding collator would compute for this order."""
    return sum(
        max(lengths[i] for i in order[s : s + batch]) * len(order[s : s + batch])
        for s in range(0, len(order), batch)
    )


def test_is_a_permutation_with_less_padding_than_random_order():
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(20, 300, size=2000)]
    sampler = LengthGroupedByEpoch(lengths, batch_size=16, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(2000)) and len(sampler) == 2000
    shuffled = [int(i) for i in rng.permutation(2000)]
    # random batches pad to near the maximum; grouped ones to near their own length
    assert padded(order, lengths, 16) < 0.75 * padded(shuffled, lengths, 16)


def test_order_is_a_function_of_seed_and_epoch():
    lengths = list(range(1000))
    a, b = LengthGroupedByEpoch(lengths, 8, seed=1), LengthGroupedByEpoch(lengths, 8, seed=1)
    assert list(a) == list(b)  # a resumed run draws the same batches
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first  # ... and a new epoch new ones
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(LengthGroupedByEpoch(lengths, 8, seed=2)) != first


def test_trainer_uses_it_only_when_asked(model_dir, scenes, tmp_path):
    from tests.train.conftest import small
    from vit.model import load_model
    from vit.train.run import make_trainer

    model, processor = load_model(model_dir)
    for group, kind in ((True, LengthGroupedByEpoch), (False, None)):
        cfg = small(stage="instruct", group_by_length=group)
        sampler = make_trainer(model, processor, scenes, None, tmp_path, cfg, None)
        sampler = sampler._get_train_sampler()
        assert isinstance(sampler, kind) if kind else not isinstance(sampler, LengthGroupedByEpoch)
