"""The tiny LLaVA config the model, train and evaluate tests share (built in about 1 s)."""

from __future__ import annotations

from typing import Any


def tiny_config(**kw: Any):
    from vit.model import ModelConfig

    args = dict(
        image_size=32,
        patch_size=8,
        vision_hidden=32,
        vision_intermediate=64,
        text_hidden=48,
        text_intermediate=96,
        text_heads=4,
        vocab_size=400,
        max_length=128,
    )
    return ModelConfig(**{**args, **kw})
