from __future__ import annotations

import dataclasses

import pytest

from vit.config import build, describe
from vit.model import ModelConfig


def test_defaults_and_help():
    cfg = ModelConfig()
    assert cfg.image_size == 64 and cfg.patch_size == 8 and cfg.num_image_tokens == 64
    assert all(help for _, _, help in describe(ModelConfig))
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(ModelConfig))


def test_full_strategy_keeps_cls():
    assert ModelConfig(vision_feature_select_strategy="full").num_image_tokens == 65


@pytest.mark.parametrize(
    "bad",
    [
        {"image_size": 60},
        {"projector": "linear"},
        {"vision_feature_select_strategy": "cls"},
        {"vision_feature_layer": -9},
    ],
)
def test_invalid(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_from_params_section():
    assert build(ModelConfig, {"text_layers": 3}).text_layers == 3
    with pytest.raises(ValueError, match="unknown"):
        build(ModelConfig, {"text_layer": 3})
