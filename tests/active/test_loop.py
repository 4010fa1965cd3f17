"""The loop on tiny data: rounds, files, counts, resume after a kill, settings changes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.active._cfg import synth_params, tiny_cfg
from vit.active.curves import report as report_of
from vit.active.loop import run_loop
from vit.active.rows import unpack_correct
from vit.evaluate.questions import make_eval_set
from vit.records import Dataset


class Killed(Exception):
    pass


def test_killed_after_synthesis_resumes_without_repeating_synthesis_or_training(
    al_data, al_model, tmp_path
):
    out = tmp_path / "al"
    # stratified: probe scoring as uncertainty, and the loop end to end with its strata
    cfg = tiny_cfg(al_data, al_model, out, strategy="stratified", rounds=1, eval_limit=4)
    sent: list[tuple[int, int]] = []

    def kill_after_synth(phase, k, result):
        assert (out / "RUNNING").exists()  # marked while the rounds run
        if phase == "synth":
            sent.append((k, result["sent"]))
            if k == 1:
                raise Killed

    with pytest.raises(Killed):
        run_loop(cfg, synth_params(tmp_path), after=kill_after_synth)
    assert sent == [(0, 6), (1, 4)]
    assert not (out / "RUNNING").exists()  # however the run ends
    done0 = out / "round-0" / "model" / "DONE"
    stamp = done0.stat().st_mtime_ns
    timed = json.loads((out / "round-0" / "summary.json").read_text())["seconds"]
    # The synth output of round 1 is lost as well: only the cache can save the requests.
    import shutil

    shutil.rmtree(out / "round-1" / "synth" / "out")
    log: list[tuple[str, int, dict]] = []
    rows = run_loop(cfg, synth_params(tmp_path), after=lambda p, k, r: log.append((p, k, r)))
    synth = {k: r for p, k, r in log if p == "synth"}
    assert synth[0]["sent"] == 0 and synth[1]["sent"] == 0 and synth[1]["cache_hits"] == 4
    assert done0.stat().st_mtime_ns == stamp  # round 0's training was not redone
    # ... and its summary keeps the times of the run that did the work
    assert json.loads((out / "round-0" / "summary.json").read_text())["seconds"] == timed
    assert timed["train"] > 0  # real work; the rerun skips it in milliseconds
    train = {k: r for p, k, r in log if p == "train"}
    assert train[0] == json.loads(done0.read_text())
    assert [r["round"] for r in rows] == [0, 1]


def test_changed_settings_clear_old_rounds_but_more_rounds_keep_them(al_data, al_model, tmp_path):
    from vit.active.loop import Loop

    out = tmp_path / "al"
    marker = out / "round-0" / "selected.jsonl"

    def prepare(synth_seed: int = 0, **kw) -> bool:
        marker.parent.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            marker.write_text("")
        synth = {**synth_params(tmp_path), "seed": synth_seed}
        Loop(tiny_cfg(al_data, al_model, out, **kw), synth).prepare()
        return marker.exists()

    assert prepare(rounds=1)
    assert prepare(rounds=3, review_timeout=5.0, device="cpu")  # what a round computes is the same
    assert not prepare(rounds=3, steps=3)  # a round trained longer is another round
    assert prepare(rounds=3, steps=3)
    assert not prepare(rounds=3, steps=3, strategy="random")
    assert not prepare(rounds=3, steps=3, strategy="random", synth_seed=7)  # other instructions
    # A field added after runs were made (`allocate`) counts only when set: at its default
    # the fingerprint is the one those runs were stamped with.
    assert prepare(rounds=3, steps=3, strategy="random", synth_seed=7, allocate="pool")
    assert not prepare(rounds=3, steps=3, strategy="random", synth_seed=7, allocate="error")
    stamp = json.loads((out / "run.json").read_text())
    assert stamp["config"]["allocate"] == "error"
    assert prepare(rounds=3, steps=3, strategy="random", synth_seed=7, allocate="error")
    assert not prepare(rounds=3, steps=3, strategy="random", synth_seed=7)
    assert "allocate" not in json.loads((out / "run.json").read_text())["config"]
    assert prepare(rounds=3, steps=3, strategy="random", synth_seed=7, focus="off")  # `focus` too
    assert not prepare(rounds=3, steps=3, strategy="random", synth_seed=7, focus="progress")


def test_epochs_scale_each_rounds_steps_with_its_training_set(al_data, al_model, tmp_path):
    """`epochs` > 0: a round's steps follow its training records (ceil(epochs x n / batch)),
    so round 1 (more records) trains longer than round 0; `steps` is the floor."""
    from vit.active.config import ActiveConfig
    from vit.records import Dataset

    out = tmp_path / "al"
    cfg = tiny_cfg(al_data, al_model, out, strategy="random", rounds=1, epochs=1.0, steps=1)
    rows = run_loop(cfg, synth_params(tmp_path))
    for k, row in enumerate(rows):
        n = len(Dataset.open(out / f"round-{k}" / "train"))
        assert row["steps"] == cfg.round_steps(n) == -(-n // cfg.batch_size)
    assert rows[1]["steps"] > rows[0]["steps"] > 1
    assert cfg.round_steps(1) == 1 and ActiveConfig(steps=50, epochs=1).round_steps(16) == 50
    with pytest.raises(ValueError, match="epochs >= 0"):
        ActiveConfig(epochs=-1)


def test_other_eval_splits_rescore_finished_rounds_and_keep_their_models(
    al_data, al_model, tmp_path
):
    """`eval_splits` is not part of what a round computes: a change scores the kept round
    models again (test + val: more items), training nothing."""
    out = tmp_path / "al"
    cfg = tiny_cfg(al_data, al_model, out, strategy="random", rounds=1, eval_limit=0)
    first = run_loop(cfg, synth_params(tmp_path))
    done = {k: (out / f"round-{k}" / "model" / "DONE").stat().st_mtime_ns for k in (0, 1)}
    again = run_loop(replace(cfg, eval_splits=["test", "val"]), synth_params(tmp_path))
    for k in (0, 1):
        assert (out / f"round-{k}" / "model" / "DONE").stat().st_mtime_ns == done[k]
        report = json.loads((out / f"round-{k}" / "eval.json").read_text())
        assert report["splits"] == again[k]["splits"] == ["test", "val"]
        assert first[k]["splits"] == ["test"]
    n = {
        tuple(s): len(
            make_eval_set([r for r in Dataset.open(al_data) if r.split in s], per_image=4)
        )
        for s in (["test"], ["test", "val"])
    }
    assert n[("test", "val")] > n[("test",)]
    assert json.loads((out / "round-1" / "eval.json").read_text())["n_items"] == n[("test", "val")]
    # Each row carries its answers item by item, rescored with its round: on the new items.
    for k in (0, 1):
        assert first[k]["item_correct"]["n"] == n[("test",)]
        assert again[k]["item_correct"]["n"] == n[("test", "val")]
        right = unpack_correct(again[k]["item_correct"])
        assert right.mean() == pytest.approx(again[k]["accuracy"], abs=1e-4)
    # A report from before `by_objects` existed: the row reads it back from the predictions.
    path = out / "round-1" / "eval.json"
    path.write_text(
        json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "by_objects"})
    )
    third = run_loop(replace(cfg, eval_splits=["test", "val"]), synth_params(tmp_path))
    assert third[1]["by_objects"] == again[1]["by_objects"] and again[1]["by_objects"]
    with pytest.raises(ValueError, match="different held-out items"):
        report_of({"random/seed-0": first[:1] + again[1:]})
    # Other items on the same splits (the probe questions changed since it was scored, or
    # a report from before reports had `eval_set`): scored again, still training nothing.
    assert again[1]["eval_set"] == third[1]["eval_set"] is not None
    for stamp in ("another-item-set", None):
        report = json.loads(path.read_text())
        report["eval_set"] = stamp
        path.write_text(json.dumps(report))
        fourth = run_loop(replace(cfg, eval_splits=["test", "val"]), synth_params(tmp_path))
        assert fourth[1]["eval_set"] == again[1]["eval_set"]
        assert json.loads(path.read_text())["eval_set"] == again[1]["eval_set"]
        assert (out / "round-1" / "model" / "DONE").stat().st_mtime_ns == done[1]
    stale = {**again[1], "eval_set": "another-item-set"}
    with pytest.raises(ValueError, match="another-item-set"):
        report_of({"random/seed-0": [again[0], stale], "hybrid/seed-0": again})
    with pytest.raises(ValueError, match="not train"):
        replace(cfg, eval_splits=["train"])
