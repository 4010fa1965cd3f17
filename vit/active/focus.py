"""Which questions to synthesize: the short rounds' question types, weighed by what the
model is still learning (task-level active learning).

    probes = probe_stats(model, pool, image_root, per_image=4, seed=k)
    types = type_stats(probes.qtypes, probes.stats)   # round-K/types.json
    shares = progress_focus(types_before, types_now)  # {count: 0.31, shape: 0.22, ...}

Choosing images is one half of the budget; what is asked about them is the other. Every
selected image gets the same instruction types, and its short rounds draw question types in
a fixed mix (vit.synth.backends.grounded_short.DEFAULT_SHARES). On the embedded default
the types are learned at very different times: size and color are learned by the third
round and then stay flat, left/right never rises above chance with the 3-layer model, while
count and shape are still rising at the fifth (README, "Active learning"). A fixed mix keeps
paying for the first two and the third.

`type_stats` averages, per question type, the answer loss and the error rate of the pool's
probe questions (`vit.active.scoring.probe_stats`: the evaluation's question kinds, answers
read off the annotations).
`progress_focus` compares two rounds' statistics: a type's learning progress is how much
its mean probe loss fell between them (the "prediction gain" signal of automated
curricula, Graves et al. 2017). Half of the short questions keep the default mix, so no
type is starved and a noisy estimate costs at most half; the other half go to the types
in proportion to their progress. No progress anywhere: the default mix.

Measured on the embedded default (README, "What is asked, and how much per image"): no
gain. Progress looks back, and these types are learned in one jump: round 2 gave left/right
the largest share because the model had just learned its answer words (not the sides), and
round 3 gave size or color, the types just learned, which needed little more. Off by default.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

# Share of the short questions that follow the measured progress; the rest keep the default.
PROGRESS_SHARE = 0.5


def default_shares() -> dict[str, float]:
    from vit.synth.backends.grounded_short import DEFAULT_SHARES

    return dict(DEFAULT_SHARES)


def type_stats(
    qtypes: Sequence[str], stats: Sequence[dict[str, float]]
) -> dict[str, dict[str, float]]:
    """{question type: {loss, error, n}}: the mean answer loss and error rate of the probes
    (`vit.active.scoring.probe_stats`) of each type."""
    by: dict[str, list[dict[str, float]]] = defaultdict(list)
    for t, st in zip(qtypes, stats, strict=True):
        by[t].append(st)
    return {
        t: {
            "loss": round(float(np.nanmean([st["loss"] for st in rows])), 6),
            "error": round(float(np.nanmean([st["error"] for st in rows])), 6),
            "n": len(rows),
        }
        for t, rows in sorted(by.items())
    }


def progress_focus(
    before: dict[str, dict[str, float]],
    now: dict[str, dict[str, float]],
    default: dict[str, float] | None = None,
    share: float = PROGRESS_SHARE,
) -> dict[str, Any]:
    """{"shares": question type -> share of the short questions, "gain": type -> fall of
    the mean probe loss from `before` to `now`}. Types missing from either side get no
    progress share (their default share stays)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share {share}: a fraction in [0, 1]")
    default = default or default_shares()
    gain = {
        t: round(before[t]["loss"] - now[t]["loss"], 6) for t in default if t in before and t in now
    }
    total = sum(max(g, 0.0) for g in gain.values())
    if total <= 0:
        return {"shares": dict(default), "gain": gain}
    shares = {
        t: round((1 - share) * w + share * max(gain.get(t, 0.0), 0.0) / total, 6)
        for t, w in default.items()
    }
    return {"shares": shares, "gain": gain}
