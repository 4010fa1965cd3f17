"""The experiment's bookkeeping without training: variants, paired gains, crowding, the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vit.active.config import ActiveConfig
from vit.active.experiment import (
    curves,
    paired_gain,
    plot_curves,
    run_experiment,
    runs_on_disk,
    variant_config,
)


def rows(accs: list[float], crowd: dict[str, float] | None = None) -> list[dict]:
    return [
        {"round": k, "samples": 400 + 480 * k, "accuracy": a, "by_objects": crowd or {}}
        for k, a in enumerate(accs)
    ]


def test_paired_gain_is_seed_by_seed_with_a_t_interval():
    runs = {
        "random/seed-0": rows([0.2, 0.40, 0.50]),
        "random/seed-1": rows([0.3, 0.45, 0.52]),
        "random/seed-2": rows([0.1, 0.41, 0.49]),
        "hybrid/seed-0": rows([0.2, 0.46, 0.55]),
        "hybrid/seed-1": rows([0.3, 0.50, 0.58]),
        "hybrid/seed-2": rows([0.1, 0.45, 0.53]),
        "tie/seed-0": rows([0.2, 0.45, 0.60]),
        "tie/seed-1": rows([0.3, 0.40, 0.45]),
        "tie/seed-2": rows([0.1, 0.41, 0.50]),
        "lonely/seed-0": rows([0.2, 0.5]),  # one seed, and a round fewer than random
    }
    gain = paired_gain(runs, "hybrid")
    assert gain["seeds"] == [0, 1, 2]
    assert gain["by_round"] == pytest.approx([0.0, 0.05, 0.05], abs=1e-4)
    assert gain["final_by_seed"] == pytest.approx([0.05, 0.06, 0.04], abs=1e-4)
    # mean 0.05, sd 0.01 over 3 seeds: t(0.975, 2) = 4.303 -> half width 0.0248
    assert gain["final_ci95"] == pytest.approx([0.0252, 0.0748], abs=1e-4)
    assert gain["clear"] is True
    tie = paired_gain(runs, "tie")  # +10, -7, +1 points: the interval straddles 0
    assert tie["final"] == pytest.approx(0.0133, abs=1e-4) and tie["clear"] is False
    lonely = paired_gain(runs, "lonely")  # compared at the last round both reached
    assert lonely["by_round"] == pytest.approx([0.0, 0.1]) and "final_ci95" not in lonely
    assert paired_gain(runs, "absent") is None


def test_variants_run_a_configured_strategy_under_their_name(tmp_path):
    cfg = ActiveConfig(strategy="hybrid", measure="entropy", rounds=1)
    variants = {"uncertainty-loss": {"strategy": "uncertainty", "measure": "loss"}}
    calls = []

    def run_one(c: ActiveConfig, seed_round, hard_last):
        calls.append((c.label, c.strategy, c.measure, c.seed, Path(c.out).name, c.rounds))
        return rows([0.1] * (c.rounds + 1))

    runs = run_experiment(
        cfg, None, ["random", "uncertainty-loss"], [3], tmp_path, run_one, variants=variants
    )
    assert set(runs) == {"random/seed-3", "uncertainty-loss/seed-3"}
    assert calls == [
        ("random", "random", "entropy", 3, "seed", 0),  # the shared seed round
        ("random", "random", "entropy", 3, "random", 1),
        ("uncertainty-loss", "uncertainty", "loss", 3, "uncertainty-loss", 1),
    ]
    with pytest.raises(ValueError, match="unknown fields \\['mesure'\\]"):
        variant_config(cfg, "typo", {"typo": {"strategy": "uncertainty", "mesure": "loss"}})
    with pytest.raises(ValueError, match="strategy 'nonsense'"):
        variant_config(cfg, "nonsense", variants)


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_runs_on_disk_backfills_crowding_from_predictions(tmp_path):
    seed = tmp_path / "seed-0" / "seed"
    _write(seed / "run.json", {"fingerprint": "s"})
    _write(seed / "round-0" / "summary.json", {"round": 0, "accuracy": 0.2, "samples": 4})
    run = tmp_path / "seed-0" / "random"
    _write(run / "run.json", {"seed_run": (seed / "run.json").read_text()})
    _write(run / "round-1" / "summary.json", {"round": 1, "accuracy": 0.5, "samples": 8})
    preds = [  # r0 has one object, r1 five
        {"id": "r0:color", "record_id": "r0", "image": "a.png", "qtype": "color",
         "question": "?", "answer": "red", "prediction": "red"},
        {"id": "r1:color", "record_id": "r1", "image": "b.png", "qtype": "color",
         "question": "?", "answer": "red", "prediction": "blue"},
        {"id": "r1:shape", "record_id": "r1", "image": "b.png", "qtype": "shape",
         "question": "?", "answer": "star", "prediction": "star"},
    ]  # fmt: skip
    pred_file = run / "round-1" / "eval" / "predictions.jsonl"
    pred_file.parent.mkdir(parents=True)
    pred_file.write_text("".join(json.dumps(p) + "\n" for p in preds))
    got = runs_on_disk(tmp_path, ["random"], [0], {"r0": 1, "r1": 5})
    assert got["random/seed-0"][1]["by_objects"] == {"1": 1.0, "4-6": 0.5}
    assert "by_objects" not in got["random/seed-0"][0]  # no predictions: nothing invented
    assert "by_objects" not in runs_on_disk(tmp_path, ["random"], [0])["random/seed-0"][1]


def test_curves_carry_crowding_and_the_plot_gets_its_panel(tmp_path):
    runs = {
        "random/seed-0": rows([0.2, 0.5], {"1": 0.8, "2-3": 0.4}),
        "random/seed-1": rows([0.3, 0.6], {"1": 0.6, "2-3": 0.5}),
        "hybrid/seed-0": rows([0.2, 0.55], {"1": 0.7, "2-3": 0.6}),
    }
    cur = curves(runs)
    assert cur["random"]["by_objects"][1] == {"1": 0.7, "2-3": 0.45}
    wide = plot_curves(cur, tmp_path / "wide.png", 0.3)
    for c in cur.values():
        c["by_objects"] = [{} for _ in c["round"]]
    narrow = plot_curves(cur, tmp_path / "narrow.png", 0.3)
    w_wide, w_narrow = Image.open(wide).size[0], Image.open(narrow).size[0]
    assert w_wide > 1.5 * w_narrow  # the crowding panel beside the curves
    assert np.isclose(w_narrow, 6.4 * 120, atol=2)
