"""The experiment's bookkeeping without training: variants and reading runs back from disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.active._cfg import al_rows as rows
from vit.active import data as al_data
from vit.active.config import ActiveConfig
from vit.active.experiment import (
    run_experiment,
    runs_in_report,
    runs_on_disk,
    split_by_eval_set,
    variant_config,
)


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


def test_a_variants_dict_fields_merge_over_the_experiments():
    cfg = ActiveConfig(synth={"cache_dir": "exp/cache", "seed": 1}, train={"max_length": 320})
    wide = {"wide": {"budget": 200, "synth": {"n_per_type": {"short": 2}}, "train": {}}}
    c = variant_config(cfg, "wide", wide)
    assert c.synth == {"cache_dir": "exp/cache", "seed": 1, "n_per_type": {"short": 2}}
    assert c.train == {"max_length": 320} and c.budget == 200 and c.name == "wide"


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _seed_and_random_run(tmp_path: Path) -> Path:
    """A seed round and one finished round of `random` made from it, as runs_on_disk reads
    them; returns the random run's folder."""
    seed = tmp_path / "seed-0" / "seed"
    _write(seed / "run.json", {"fingerprint": "s"})
    _write(seed / "round-0" / "summary.json", {"round": 0, "accuracy": 0.2, "samples": 4})
    run = tmp_path / "seed-0" / "random"
    _write(run / "run.json", {"seed_run": (seed / "run.json").read_text()})
    _write(run / "round-1" / "summary.json", {"round": 1, "accuracy": 0.5, "samples": 8})
    return run


def test_runs_on_disk_backfills_crowding_from_predictions(tmp_path):
    run = _seed_and_random_run(tmp_path)
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
    assert got["random/seed-0"][1]["item_correct"] is None  # not marked right or wrong


def test_runs_on_disk_backfills_item_records_that_match_the_row(tmp_path):
    run = _seed_and_random_run(tmp_path)  # round 1: accuracy 0.5
    pred_file = run / "round-1" / "eval" / "predictions.jsonl"
    pred_file.parent.mkdir(parents=True)

    def answered(*right: bool) -> dict:
        pred_file.write_text("".join(json.dumps({"correct": c}) + "\n" for c in right))
        return runs_on_disk(tmp_path, ["random"], [0])["random/seed-0"][1]["item_correct"]

    assert answered(True, False, True, False) == {"n": 4, "bits": "a0"}
    # Predictions rewritten after the row (a re-score killed before its summary): 3 of 4
    # right is not the row's 0.5, so they are not its record.
    assert answered(True, True, True, False) is None
    assert "by_objects" not in runs_on_disk(tmp_path, ["random"], [0])["random/seed-0"][1]


def test_runs_in_report_reads_the_asked_runs_back_in_round_order(tmp_path):
    rows = {"round-1": {"round": 1, "accuracy": 0.5}, "round-0": {"round": 0, "accuracy": 0.3}}
    path = tmp_path / "al.json"
    path.write_text(json.dumps({"runs": {"random/seed-0": rows, "badge/seed-3": rows}}))
    got = runs_in_report(path, ["random", "hybrid"], [0, 1])
    assert list(got) == ["random/seed-0"]
    assert [r["round"] for r in got["random/seed-0"]] == [0, 1]
    assert runs_in_report(tmp_path / "missing.json", ["random"], [0]) == {}


def test_split_by_eval_set_keeps_runs_scored_on_other_items_apart():
    def run(eval_set, splits=("test",)):
        return [{"round": k, "eval_set": eval_set, "splits": list(splits)} for k in (0, 1)]

    runs = {"random/seed-0": run("new"), "badge/seed-1": run("old"), "random/seed-2": run(None)}
    runs["hybrid/seed-0"] = run("new", ("test", "val"))  # same items' hash, other splits
    runs["mixed/seed-0"] = [*run("new")[:1], *run("old")[1:]]  # re-scored half way
    same, other = split_by_eval_set(runs, (("test",), "new"))
    assert list(same) == ["random/seed-0"]
    assert sorted(other) == ["badge/seed-1", "hybrid/seed-0", "mixed/seed-0", "random/seed-2"]
    assert split_by_eval_set({}, (("test",), "new")) == ({}, {})


def test_runs_in_report_reads_back_the_runs_set_aside(tmp_path):
    rows = {"round-0": {"round": 0, "accuracy": 0.3, "eval_set": "old"}}
    path = tmp_path / "al.json"
    path.write_text(json.dumps({"runs": {}, "other_eval_set": {"random/seed-0": rows}}))
    assert runs_in_report(path, ["random"], [0]) == {"random/seed-0": [rows["round-0"]]}


def test_runs_on_disk_leaves_out_a_run_another_process_is_still_making(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    run = _seed_and_random_run(tmp_path)
    host = socket.gethostname()
    _write(run / "RUNNING", {"host": host, "pid": os.getpid()})  # a live process
    assert runs_on_disk(tmp_path, ["random"], [0]) == {}
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    # Killed mid-run (its pid gone), or marked on another machine: its finished rounds count.
    for marker in ({"host": host, "pid": int(gone.stdout)}, {"host": "elsewhere", "pid": 1}):
        _write(run / "RUNNING", marker)
        rows_back = runs_on_disk(tmp_path, ["random"], [0])["random/seed-0"]
        assert [r["round"] for r in rows_back] == [0, 1]
    with al_data.running(run):
        assert al_data.is_running(run) and runs_on_disk(tmp_path, ["random"], [0]) == {}
    assert not (run / "RUNNING").exists() and not al_data.is_running(run)
