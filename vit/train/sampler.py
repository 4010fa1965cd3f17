"""Batches of similar length: a from-scratch model on a CPU pays for every padded token.

transformers' `LengthGroupedSampler` wants token lengths from a `datasets.Dataset` or from
each example's `input_ids`; our examples are tokenized in the collator, so `TrainData`
gives a character-count proxy instead (only the order within a mega-batch depends on it).
The permutation is a function of (seed, epoch) rather than of the global RNG, so a run
killed mid-epoch and resumed draws exactly the batches the uninterrupted run drew.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices


class LengthGroupedByEpoch(torch.utils.data.Sampler[int]):
    """Random mega-batches of 50 batches, each sorted by length, reseeded every epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=g))
