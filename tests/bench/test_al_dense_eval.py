"""bench/al_dense_eval.py on a tiny finished experiment: denser items, the standard ones
checked against the experiment's own scores, and the paired table with its noise split."""

from __future__ import annotations

import json
from dataclasses import replace

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
    cfg = replace(cfg, eval_splits=["test", "val"], eval_per_image=6)
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
    # Every standard item inside the dense set is answered as the experiment answered it:
    # else the script stops rather than compare two scorings.
    preds = out / "seed-0" / "random" / "round-1" / "eval" / "predictions.jsonl"
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    rows[0]["correct"] = not rows[0]["correct"]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SystemExit, match="1 of the experiment's"):
        dense.main([*args, "--report", "--out", str(result)])
    # A run scored on fewer than six items a scene is not inside a dense set: refused.
    run = out / "seed-1" / "random" / "run.json"
    stamp = json.loads(run.read_text())
    stamp["config"]["eval_per_image"] = 4
    run.write_text(json.dumps(stamp))
    with pytest.raises(SystemExit, match="eval_per_image 4"):
        dense.main(args)
