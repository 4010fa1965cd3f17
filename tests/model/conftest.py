"""A tiny LLaVA built once per session from config (offline, ~1 s)."""

from __future__ import annotations

import pytest

from tests._tiny import tiny_config

CORPUS = [
    "What color is the circle? The circle is red.",
    "How many squares are there? There are 3 squares.",
    "Describe the image in detail. A small blue triangle sits left of a large green square.",
    "Is there a star? No.",
]


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
