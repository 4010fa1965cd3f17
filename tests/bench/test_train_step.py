"""bench/train_step.py on the tiny model: a deeper LM rebuilt from config, and the cache on and
off training to the same weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench._load import bench_module
from tests.train.conftest import model_dir, scenes  # noqa: F401


@pytest.fixture(scope="module")
def ts():
    yield from bench_module("train_step")


def test_cache_on_and_off_learn_the_same_weights(ts, model_dir, scenes, tmp_path):  # noqa: F811
    deeper = ts.start_model(model_dir, 3, tmp_path)
    config = json.loads((Path(deeper) / "config.json").read_text())
    assert config["text_config"]["num_hidden_layers"] == 3
    assert ts.start_model(model_dir, 0, tmp_path) == model_dir
    # 8 steps over 12 training scenes: the second epoch's batches come from the cache
    off_s, off = ts.timed_run(deeper, scenes, tmp_path / "off", 8, 0)
    on_s, on = ts.timed_run(deeper, scenes, tmp_path / "on", 8, 100_000)
    assert off_s > 0 and on_s > 0
    assert ts.same_weights(off, on) == 0.0
    first = ts.same_weights(Path(deeper), on)  # and training did move the weights
    assert first > 0
