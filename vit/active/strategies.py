"""Selection strategies: each scores the unlabeled pool with the current model, then picks B.

    s = get_strategy("hybrid")
    scores = s.score(pool, Context(model="data/active/round-0/model/model", image_root=root,
                                   labeled=train_records))
    picks = s.select(scores, budget=100, rng=np.random.default_rng(0))   # [Pick(id, score)]

| name          | score                                          | select                          |
|---------------|------------------------------------------------|---------------------------------|
| `random`      | nothing                                        | B drawn uniformly (seeded)      |
| `uncertainty` | probe answers: loss / entropy / margin         | the B most uncertain            |
| `diversity`   | `vlm` embeddings of pool and labeled images    | k-center greedy from the labeled|
| `hybrid`      | both                                           | k-means into B clusters (FAISS), the most uncertain of each |
| `stratified`  | probe answers + boxed objects per image        | B split over object counts (as the pool, or by its errors), the most uncertain of each |
| `badge`       | probe answers' output-layer gradients          | k-means++ seeding over them (BADGE) |

Every strategy returns exactly B distinct ids of eligible pool records (an image and a split
that is not `test` or `val`; a held-out record in the pool is ignored, never picked) and
raises when the pool has fewer than B. `Scores` round-trips through a folder
(`scores.jsonl` + `embeddings.npz`), so scoring and selecting are two resumable steps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vit.active import scoring
from vit.active.config import ALLOCATIONS
from vit.active.kcenter import k_center_greedy, kmeans_labels, kmeans_pp_picks
from vit.active.quotas import proportional_quotas
from vit.records import Record, atomic_write_text

HELD_OUT = ("test", "val")
SCORES_FILE = "scores.jsonl"
EMBEDDINGS_FILE = "embeddings.npz"


@dataclass
class Context:
    """What scoring needs besides the pool: the current model and the labeled images."""

    model: str | Path
    image_root: str | Path
    labeled: Sequence[Record] = ()
    measure: str = "entropy"
    by_type: bool = True
    probes_per_image: int = 4
    batch_size: int = 32
    device: str | None = "cpu"
    cache_root: str | Path | None = None
    seed: int = 0


@dataclass
class Scores:
    """Named per-id columns over the eligible pool, plus embeddings when a strategy used them."""

    ids: list[str]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    embeddings: np.ndarray | None = None  # pool rows, in `ids` order
    labeled: np.ndarray | None = None  # the labeled images' rows (k-center's first centers)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"id": rid, **{k: _num(v[i]) for k, v in self.values.items()}}
            for i, rid in enumerate(self.ids)
        ]

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.embeddings is not None:
            lab = self.labeled if self.labeled is not None else np.zeros((0, 0), np.float32)
            np.savez(folder / EMBEDDINGS_FILE, pool=self.embeddings, labeled=lab)
        text = "".join(json.dumps(r) + "\n" for r in self.rows())
        atomic_write_text(folder / SCORES_FILE, text)  # last: the step's completion marker

    @classmethod
    def load(cls, folder: str | Path) -> Scores:
        folder = Path(folder)
        rows = [json.loads(line) for line in (folder / SCORES_FILE).read_text().splitlines()]
        keys = [k for k in (rows[0] if rows else {}) if k != "id"]
        values = {k: np.array([_nan(r.get(k)) for r in rows], dtype=np.float64) for k in keys}
        out = cls([r["id"] for r in rows], values)
        if (folder / EMBEDDINGS_FILE).exists():
            with np.load(folder / EMBEDDINGS_FILE) as z:
                out.embeddings, out.labeled = z["pool"], z["labeled"]
        return out


@dataclass(frozen=True)
class Pick:
    id: str
    score: float


def _num(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else round(x, 6)


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def eligible(pool: Sequence[Record]) -> list[Record]:
    """Pool records that may be selected: with an image, not in a held-out split."""
    return [r for r in pool if r.image and (r.split or "") not in HELD_OUT]


def _check_budget(n: int, budget: int) -> None:
    if not 0 < budget <= n:
        raise ValueError(f"budget {budget} for a pool of {n} eligible images")


def _top(ids: list[str], v: np.ndarray, budget: int) -> list[Pick]:
    """The `budget` highest values (NaN last; ties in pool order)."""
    key = np.where(np.isnan(v), -np.inf, v)
    order = np.argsort(-key, kind="stable")[:budget]
    return [Pick(ids[i], float(v[i])) for i in order]


class Strategy:
    name = ""

    def score(self, pool: Sequence[Record], ctx: Context) -> Scores:
        return Scores([r.id for r in eligible(pool)])

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        raise NotImplementedError

    def __call__(
        self, pool: Sequence[Record], ctx: Context, budget: int, rng: np.random.Generator
    ) -> list[Pick]:
        return self.select(self.score(pool, ctx), budget, rng)


class RandomStrategy(Strategy):
    name = "random"

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        _check_budget(len(scores.ids), budget)
        return [Pick(scores.ids[i], 0.0) for i in rng.choice(len(scores.ids), budget, False)]


def _probe_args(pool: list[Record], ctx: Context) -> tuple[Any, ...]:
    return (
        ctx.model,
        pool,
        ctx.image_root,
        ctx.probes_per_image,
        ctx.seed,
        ctx.batch_size,
        ctx.device,
    )


def _uncertainty(
    pool: list[Record], ctx: Context, probes: scoring.Probes | None = None
) -> dict[str, np.ndarray]:
    """Per-image uncertainty columns from the probes (`probe_stats` when not given)."""
    p = probes or scoring.probe_stats(*_probe_args(pool, ctx))
    stats = scoring.probe_scores(p.qtypes, p.owners, p.stats, by_type=ctx.by_type)
    names = (*scoring.STATS, *scoring.RATES)
    nan = dict.fromkeys(names, float("nan"))
    cols = {k: np.array([stats.get(r.id, nan)[k] for r in pool]) for k in names}
    return {"uncertainty": cols[ctx.measure], **cols}


def _embeddings(pool: list[Record], ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    both = [*pool, *[r for r in ctx.labeled if r.image]]
    x = scoring.image_embeddings(ctx.model, both, ctx.image_root, ctx.cache_root, ctx.device)
    return x[: len(pool)], x[len(pool) :]


class UncertaintyStrategy(Strategy):
    name = "uncertainty"

    def score(self, pool: Sequence[Record], ctx: Context) -> Scores:
        pool = eligible(pool)
        return Scores([r.id for r in pool], _uncertainty(pool, ctx))

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        _check_budget(len(scores.ids), budget)
        return _top(scores.ids, scores.values["uncertainty"], budget)


class DiversityStrategy(Strategy):
    name = "diversity"

    def score(self, pool: Sequence[Record], ctx: Context) -> Scores:
        from vit.active.kcenter import nearest_center_distances

        pool = eligible(pool)
        x, lab = _embeddings(pool, ctx)
        dist = nearest_center_distances(x, lab) if len(pool) else np.zeros(0)
        return Scores([r.id for r in pool], {"diversity": dist}, x, lab)

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        _check_budget(len(scores.ids), budget)
        picks, start = k_center_greedy(scores.embeddings, budget, scores.labeled, rng)
        return [Pick(scores.ids[i], float(start[i])) for i in picks]


class HybridStrategy(Strategy):
    """Uncertainty within diversity: B k-means clusters of the pool embeddings, the most
    uncertain image of each; clusters left empty by k-means are filled by uncertainty.

    `density` > 0 adds density x the image's typicality percentile (TypiClust: dense
    regions of the embedding space) to its uncertainty percentile, so within a cluster a
    typical uncertain image beats an outlier: information density against uncertainty's
    pull toward the rare crowded scenes, which the test split holds few of."""

    name = "hybrid"

    def __init__(self, density: float = 0.0) -> None:
        self.density = float(density)

    def score(self, pool: Sequence[Record], ctx: Context) -> Scores:
        from vit.active.kcenter import typicality

        pool = eligible(pool)
        scores = DiversityStrategy().score(pool, ctx)
        scores.values.update(_uncertainty(pool, ctx))
        if len(pool):
            scores.values["typicality"] = typicality(scores.embeddings)
        return scores

    def objective(self, scores: Scores) -> np.ndarray:
        """What is maximised per cluster: uncertainty, plus density x typicality (both as
        percentiles of the pool when density > 0); NaN uncertainty never wins."""
        u = scores.values["uncertainty"]
        if self.density > 0:
            pct = scoring.percentile
            u = pct(u) + self.density * pct(scores.values["typicality"])
        return np.where(np.isnan(u), -np.inf, u)

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        _check_budget(len(scores.ids), budget)
        u = self.objective(scores)
        labels = kmeans_labels(scores.embeddings, budget, int(rng.integers(2**31)))
        chosen: list[int] = []
        for c in range(budget):
            members = np.flatnonzero(labels == c)
            if len(members):
                chosen.append(int(members[np.argmax(u[members])]))
        taken = set(chosen)
        rest = [i for i in np.argsort(-u, kind="stable") if i not in taken]
        chosen += [int(i) for i in rest[: budget - len(chosen)]]
        v = scores.values["uncertainty"]
        return [Pick(scores.ids[i], float(v[i])) for i in chosen]


class StratifiedStrategy(Strategy):
    """Uncertainty within crowding strata: the budget is split over the images' numbers of
    boxed objects, and each stratum gives its most uncertain images.

    Plain uncertainty ranks images mostly by how crowded they are (34% of its picks had 7+
    objects against 15% of the pool, README "Active learning"), and crowded scenes taught
    the model less than random's mix: in round 1 it learned shape at half random's rate.
    `allocate="pool"` holds the mix at the pool's (what random gets in expectation, and
    what the test split is drawn like) and leaves uncertainty to choose which scenes of each
    crowding level to learn from. `allocate="error"` splits the budget in proportion to
    each stratum's expected wrong answers (its size x the share of its probes the model
    gets wrong): where the pool's, and so the test split's, errors are, not where the model
    hesitates most per image."""

    name = "stratified"

    def __init__(self, allocate: str = "pool") -> None:
        if allocate not in ALLOCATIONS:
            raise ValueError(f"allocate {allocate!r}: choose from {ALLOCATIONS}")
        self.allocate = allocate

    def score(self, pool: Sequence[Record], ctx: Context) -> Scores:
        from vit.evaluate.questions import boxed

        pool = eligible(pool)
        values = _uncertainty(pool, ctx)
        values["objects"] = np.array([len(boxed(r)) for r in pool], dtype=np.float64)
        return Scores([r.id for r in pool], values)

    def quotas(self, scores: Scores, budget: int) -> dict[float, int]:
        """Images per stratum (number of boxed objects)."""
        strata = scores.values["objects"]
        keys, sizes = np.unique(strata, return_counts=True)
        weights = sizes.astype(np.float64)
        if self.allocate == "error":
            err = scores.values["error"]
            rate = np.array([_mean(err[strata == k]) for k in keys])
            weights = weights * rate if (weights * rate).sum() > 0 else weights
        return dict(zip(keys.tolist(), proportional_quotas(weights, budget, sizes), strict=True))

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        _check_budget(len(scores.ids), budget)
        strata = scores.values["objects"]
        picks: list[Pick] = []
        for key, quota in self.quotas(scores, budget).items():
            members = np.flatnonzero(strata == key)
            ids = [scores.ids[i] for i in members]
            picks += _top(ids, scores.values["uncertainty"][members], quota)
        return picks


def _mean(v: np.ndarray) -> float:
    """Mean over the non-NaN values; 0 when there are none."""
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else 0.0


class BadgeStrategy(Strategy):
    """BADGE (Ash et al. 2020): each image is embedded by the gradient its probe answers
    would put on the output layer (`scoring.image_gradients`: large where the model is
    wrong or unsure, pointing where its errors differ), and k-means++ seeding over those
    embeddings picks the budget: uncertainty and diversity in one space, with no weight
    between them to tune. Its embeddings see what the model gets wrong about an image,
    where `hybrid`'s tower embeddings see only what the image looks like."""

    name = "badge"

    def score(self, pool: Sequence[Record], ctx: Context) -> Scores:
        pool = eligible(pool)
        probes = scoring.probe_stats(*_probe_args(pool, ctx), gradients=True)
        values = _uncertainty(pool, ctx, probes)
        by_image = scoring.image_gradients(probes.qtypes, probes.owners, probes.grads)
        width = probes.grads.shape[1]
        zero = np.zeros(width, np.float32)
        x = np.stack([by_image.get(r.id, zero) for r in pool] or [zero])[: len(pool)]
        values["gradnorm"] = np.linalg.norm(x, axis=1).astype(np.float64)
        return Scores([r.id for r in pool], values, x)

    def select(self, scores: Scores, budget: int, rng: np.random.Generator) -> list[Pick]:
        _check_budget(len(scores.ids), budget)
        picks = kmeans_pp_picks(scores.embeddings, budget, rng)
        return [Pick(scores.ids[i], float(scores.values["gradnorm"][i])) for i in picks]


STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s
    for s in (
        RandomStrategy,
        UncertaintyStrategy,
        DiversityStrategy,
        HybridStrategy,
        StratifiedStrategy,
        BadgeStrategy,
    )
}


def get_strategy(name: str, density: float = 0.0, allocate: str = "pool") -> Strategy:
    """A strategy by name; `density` is the hybrid's typicality weight and `allocate` the
    stratified strategy's split of the budget (others ignore them)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {tuple(STRATEGIES)}")
    cls = STRATEGIES[name]
    if cls is HybridStrategy:
        return cls(density)
    return cls(allocate) if cls is StratifiedStrategy else cls()
