"""A tiny LLaVA built once per session from config (offline, ~1 s)."""

from __future__ import annotations

import pytest

CORPUS = [
    "What color is the circle? The circle is red.",
    "How many squares are there? There are 3 squares.",
    "Describe the image in detail. A small blue triangle sits left of a large green square.",
    "Is there a star? No.",
]


def tiny_config(**kw):
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


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from vit.model import build_model

    return build_model(tiny_config(), CORPUS * 10, tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def tiny(tiny_dir):
    from vit.model import load_model

    return load_model(str(tiny_dir), device="cpu")


@pytest.fixture(scope="session")
def processor(tiny):
    return tiny[1]
