"""ActiveConfig: the knobs of the active-learning loop (params.yaml `active`), TRL style.

from vit.config import build, section
cfg = build(ActiveConfig, section("active"))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from vit.config import param_field as _f

STRATEGIES = ("random", "uncertainty", "diversity", "hybrid", "stratified", "badge")
MEASURES = ("loss", "entropy", "margin")
ALLOCATIONS = ("pool", "error")
FOCUS = ("off", "progress")
REVIEW_MODES = ("off", "publish", "on")


@dataclass
class ActiveConfig:
    """One active-learning run: the pool, the strategy, the budget and how each round trains."""

    strategy: str = _f("badge", f"selection strategy: one of {STRATEGIES}")
    name: str = _f(
        "", "the run's label in reports and its folder in an experiment; '' = the strategy"
    )
    budget: int = _f(100, "images selected (and synthesized for) per round")
    rounds: int = _f(3, "selection rounds after the seed round")
    seed_size: int = _f(100, "images drawn at random for round 0 (the seed set)")
    seed: int = _f(0, "seeds the seed set, random selection and k-means")
    data: str = _f("data/deduped/scenes", "curated + deduplicated dataset: pool and test split")
    base_model: str = _f("data/model/align/model", "model round 0 starts from (stage 1)")
    out: str = _f("data/active", "rounds go to OUT/round-K")
    metrics_path: str = _f("metrics/al.json", "accuracy per round (dvc metrics); '' = none")
    steps: int = _f(200, "optimizer steps per round (warm start from the last round)")
    epochs: float = _f(
        0.0,
        "> 0: a round trains max(steps, ceil(epochs x its training records / batch_size)) "
        "steps, so later, larger rounds learn their new data as well as the first",
    )
    lr: float = _f(5e-4, "peak learning rate per round")
    batch_size: int = _f(16, "training batch size")
    train: dict = _f({}, "more TrainConfig fields for every round (stage is always instruct)")
    synth: dict = _f({}, "SynthConfig fields over params.yaml's `synthesize` section")
    measure: str = _f("entropy", f"uncertainty from the probe answers: one of {MEASURES}")
    by_type: bool = _f(
        True, "rank each probe within its question type before averaging (vit.active.scoring)"
    )
    density: float = _f(
        0.0,
        "hybrid: weight of typicality (dense embedding regions) against uncertainty; 0 = off",
    )
    allocate: str = _f(
        "pool",
        "stratified: split the budget over object counts as the pool is (pool) or by the "
        "pool's expected wrong probe answers per count (error)",
    )
    focus: str = _f(
        "off",
        "which questions the selected images get: off (the writer's fixed mix) or progress "
        "(half of the short questions go to the types whose probe loss fell most in the last "
        "round; vit/active/focus.py; measured: no gain on the embedded default, README)",
    )
    probes_per_image: int = _f(4, "probe questions asked per pool image when scoring")
    score_batch_size: int = _f(32, "sequences per forward pass when scoring")
    hard_top: int = _f(20, "after a round, this many highest-loss training images get a variant")
    hard_cap: int = _f(2, "extra instruction variants per image at most")
    eval_per_image: int = _f(4, "probe questions per test image")
    eval_splits: list = _f(
        ["test"],
        "held-out splits every round is scored on (e.g. [test, val]: the loop never trains on "
        "or selects val, and twice the items halve the item noise); changing it re-scores "
        "finished rounds and keeps their models",
    )
    eval_limit: int = _f(0, "evaluate on at most this many items; 0 = all")
    eval_max_new_tokens: int = _f(16, "greedy answer length at evaluation")
    cache_root: str = _f(".cache/embeddings", "content-hash cache of the vlm embeddings")
    device: str = _f("cpu", "device for scoring and embedding: cpu, cuda, auto")
    review: str = _f("off", "off; publish (fields + views in FiftyOne); on (publish and wait)")
    review_dataset: str = _f("vitflow", "FiftyOne dataset the round is published to")
    review_timeout: float = _f(600.0, "seconds to wait for `round-done` before accepting")
    review_poll: float = _f(5.0, "seconds between two reads of the reviewers' tags")

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r}: choose from {STRATEGIES}")
        if self.allocate not in ALLOCATIONS:
            raise ValueError(f"allocate {self.allocate!r}: choose from {ALLOCATIONS}")
        if self.focus not in FOCUS:
            raise ValueError(f"focus {self.focus!r}: choose from {FOCUS}")
        if self.measure not in MEASURES:
            raise ValueError(f"measure {self.measure!r}: choose from {MEASURES}")
        if isinstance(self.review, bool):  # YAML reads a bare `on` / `off` as a boolean
            self.review = "on" if self.review else "off"
        if self.review not in REVIEW_MODES:
            raise ValueError(f"review {self.review!r}: choose from {REVIEW_MODES}")
        if self.budget < 1 or self.seed_size < 1 or self.rounds < 0:
            raise ValueError("need budget >= 1, seed_size >= 1 and rounds >= 0")
        if not self.eval_splits or "train" in self.eval_splits:
            raise ValueError(f"eval_splits {self.eval_splits!r}: held-out splits, not train")
        if self.epochs < 0 or self.steps < 1:
            raise ValueError("need steps >= 1 and epochs >= 0")

    @property
    def label(self) -> str:
        """What reports call this run: `name`, else the strategy."""
        return self.name or self.strategy

    def round_steps(self, n_records: int) -> int:
        """Optimizer steps for a round that trains on `n_records` records."""
        return max(self.steps, math.ceil(self.epochs * n_records / self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
