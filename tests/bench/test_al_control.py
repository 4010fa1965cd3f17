"""bench/al_control.py on a tiny finished experiment: matched steps, no new images, a score."""

from __future__ import annotations

import json

import pytest

from tests.active._cfg import al_data, al_model, synth_params, tiny_cfg  # noqa: F401
from tests.bench._load import bench_module


@pytest.fixture(scope="module")
def ctl():
    yield from bench_module("al_control")


@pytest.mark.slow
def test_control_matches_the_strategys_steps_and_adds_no_images(ctl, al_data, al_model, tmp_path):  # noqa: F811
    from vit.active.experiment import run_experiment

    out = tmp_path / "exp"
    cfg = tiny_cfg(al_data, al_model, tmp_path / "unused", rounds=2, epochs=1.0, steps=1)
    synth = synth_params(tmp_path)
    run_experiment(cfg, synth, ["random"], [0], out)
    with pytest.raises(SystemExit, match="no finished rounds"):
        ctl.run_control(cfg, out, 0, "hybrid")
    res = ctl.run_control(cfg, out, 0, "random", rescore=True)
    seed_images = json.loads((out / "seed-0" / "seed" / "round-0" / "summary.json").read_text())
    mine, theirs = res["control"], res["random"]
    assert [r["round"] for r in mine] == [r["round"] for r in theirs] == [1, 2]
    # the same optimizer steps as random's rounds (which grew with their data) ...
    assert [r["steps"] for r in mine] == [r["steps"] for r in theirs]
    assert theirs[1]["steps"] > theirs[0]["steps"]
    # ... on the seed round's images only, while random's rounds added new ones
    assert {r["images"] for r in mine} == {seed_images["images"]}
    assert all(t["images"] > seed_images["images"] for t in theirs)
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in mine)
    # rescored: random's own round models under the same evaluation give the stored values
    stored = [
        json.loads((out / "seed-0" / "random" / f"round-{k}" / "eval.json").read_text())
        for k in (1, 2)
    ]
    assert [t["accuracy"] for t in theirs] == [e["overall"]["tuned"] for e in stored]
    ctl_dir = out / "seed-0" / "control-random"
    assert (ctl_dir / "round-2" / "eval.json").exists() and not (
        ctl_dir / "round-1" / "synth"
    ).exists()
