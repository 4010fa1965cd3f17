"""bench/al_dense_eval.py on a tiny finished experiment: denser items, the standard ones
checked against the experiment's own scores, and the paired table with its noise split."""

from __future__ import annotations

import json

import pytest

from tests.active._cfg import al_data, al_model, synth_params, tiny_cfg  # noqa: F401
from tests.bench._load import bench_module


@pytest.fixture(scope="module")
def dense():
    yield from bench_module("al_dense_eval")


@pytest.mark.slow
def test_dense_scores_contain_the_experiments_and_pair_by_item(dense, al_data, al_model, tmp_path):  # noqa: F811
    from vit.active.experiment import run_experiment

    out = tmp_path / "exp"
    cfg = tiny_cfg(al_data, al_model, tmp_path / "unused", rounds=1, steps=1, eval_limit=0)
    cfg = type(cfg)(**{**cfg.__dict__, "eval_splits": ["test", "val"], "eval_per_image": 6})
    run_experiment(cfg, synth_params(tmp_path), ["random", "diversity"], [0, 1], out)
    args = ["--experiment", str(out), "--strategies", "random",
            "diversity", "--seeds", "0", "1", "--round", "1", "--per-image", "12"]  # fmt: skip
    result = tmp_path / "dense.json"
    assert dense.main(args) == 0
    assert dense.main([*args, "--report", "--out", str(result)]) == 0
    rep = json.loads(result.read_text())
    paired = rep["vs_random"]["diversity"]["paired"]
    assert paired["seeds"] == [0, 1] and {"item_sd", "run_sd", "item_share"} <= set(paired)
    ids = [
        json.loads(line)["id"]
        for line in (out / "dense-12" / "random" / "seed-0" / "eval" / "predictions.jsonl")
        .read_text()
        .splitlines()
    ]
    standard = json.loads((out / "seed-0" / "random" / "round-1" / "eval.json").read_text())
    assert len(ids) > standard["n_items"] == sum(i.count(":") == 1 for i in ids)
    # The standard items' score inside the dense set is the experiment's: else it stops.
    summary = out / "seed-0" / "random" / "round-1" / "summary.json"
    row = json.loads(summary.read_text())
    summary.write_text(json.dumps({**row, "accuracy": row["accuracy"] + 0.25}))
    with pytest.raises(SystemExit, match="not the same scoring"):
        dense.main([*args, "--report", "--out", str(result)])
