"""Splitting a selection budget over strata (the `stratified` strategy's quotas).

proportional_quotas([30, 50, 20], budget=10)            # [3, 5, 2]
proportional_quotas(weights, budget=10, caps=sizes)     # no stratum above its size
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def proportional_quotas(
    weights: Sequence[float] | np.ndarray,
    budget: int,
    caps: Sequence[int] | np.ndarray | None = None,
) -> list[int]:
    """Split `budget` over strata in proportion to `weights` (Hamilton's largest remainder:
    floors first, then one more to the largest fractions, ties to the heavier stratum, then
    the earlier one), no stratum above its cap (a capped stratum's excess is split again
    over the others). Sums to `budget` when the caps allow it; with weights = caps = the
    strata's sizes, the pool's own mix."""
    w = np.asarray(weights, dtype=np.float64)
    cap = np.full(len(w), budget) if caps is None else np.asarray(caps, dtype=np.int64)
    quotas = np.zeros(len(w), dtype=np.int64)
    free = (w > 0) & (cap > 0)
    while free.any():
        left = budget - int(quotas.sum())
        exact = left * w / w[free].sum()
        over = free & (exact >= cap - quotas)
        if not over.any():
            floors = np.floor(exact).astype(np.int64) * free
            quotas += floors
            frac = np.where(free, exact - floors, -1.0)
            order = sorted(np.flatnonzero(free), key=lambda i: (-frac[i], -w[i], i))
            for i in order[: budget - int(quotas.sum())]:
                quotas[i] += 1
            break
        quotas[over] = cap[over]
        free &= ~over
    rest = budget - int(quotas.sum())
    if rest > 0 and caps is not None and (cap > quotas).any():
        # Zero-weight strata still have room: fill it in proportion to the room left.
        room = cap - quotas
        quotas += np.asarray(proportional_quotas(room, min(rest, int(room.sum())), room))
    return [int(q) for q in quotas]
