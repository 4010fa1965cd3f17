"""DedupConfig: every knob of the dedup stage, with its default and the measurement behind it.

Read from params.yaml's `dedup` section with `vit.config.build(DedupConfig, section)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vit.config import param_field as _f
from vit.dedup.groups import KEEP_POLICIES
from vit.dedup.splits import DEFAULT_RATIOS, normalize_ratios

METHODS = ("exact", "near", "semantic", "joint", "text")


@dataclass
class DedupConfig:
    """Every knob of `vit dedup`; params.yaml's `dedup` section maps onto these fields."""

    methods: list[str] = _f(list(METHODS), f"methods to run, any of {METHODS}")
    keep: str = _f("priority", f"which duplicate survives: one of {KEEP_POLICIES}")
    hamming_radius: int = _f(10, "near: pHash candidates within this many of 64 bits")
    dhash_radius: int = _f(4, "near: also dHash candidates within this radius (-1: off)")
    near_verify: bool = _f(True, "near: accept a hash candidate only if aligned thumbnails agree")
    near_prefilter: float = _f(0.8, "near: 12x12 thumbnail cosine a candidate must pass first")
    near_min_similarity: float = _f(
        0.975, "near: aligned thumbnail (or crop window) cosine to accept"
    )
    eps: float = _f(0.02, "semantic: image pairs with cosine > 1 - eps are duplicates")
    semantic_exact_max: int = _f(20_000, "semantic: exact flat search up to this many rows")
    n_clusters: int = _f(0, "semantic: SemDeDup k-means clusters (0: sqrt rule)")
    n_probe: int = _f(2, "semantic: clusters each row is searched in (border recall)")
    embedder: str = _f("classical", "image embedder name (vit.embed)")
    embedder_kwargs: dict[str, Any] = _f({}, "image embedder constructor arguments")
    text_embedder: str = _f("text", "text embedder name (vit.embed), MiniLM by default")
    text_embedder_kwargs: dict[str, Any] = _f({}, "text embedder constructor arguments")
    text_eps: float = _f(0.05, "text: instructions with cosine >= 1 - text_eps are duplicates")
    text_scope: str = _f("text_only", "text: 'text_only' (image-less records) or 'all'")
    joint_image_eps: float = _f(0.1, "joint: image cosine >= 1 - this, AND the text test")
    split_ratios: dict[str, float] = _f(
        dict(DEFAULT_RATIOS), "split name -> share, per duplicate group"
    )
    seed: int = _f(0, "seed of k-means, the random keep policy and the split draw")
    cache_root: str = _f("", "embedding cache folder ('' = no cache)")
    shard_size: int = _f(10_000, "records per output shard")

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown dedup methods {sorted(unknown)}; choose from {METHODS}")
        if self.keep not in KEEP_POLICIES:
            raise ValueError(f"unknown keep policy {self.keep!r}; choose from {KEEP_POLICIES}")
        if self.text_scope not in ("text_only", "all"):
            raise ValueError("text_scope must be 'text_only' or 'all'")
        normalize_ratios(self.split_ratios)

    def params(self) -> dict[str, Any]:
        return asdict(self)
