"""Active learning under the Prefect harness: two rounds end to end (review on, FiftyOne's
real database), and `vit al experiment` over two strategies and two seeds."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from tests.active import _cfg
from tests.active._cfg import synth_params, tiny_cfg
from vit.records import Dataset

# The AL tests' fixtures: 40 small split scenes and a tiny LLaVA built on their text.
al_data, al_model, one_thread = _cfg.al_data, _cfg.al_model, _cfg.one_thread


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def write_params(tmp_path: Path, active: dict, experiment: dict | None = None) -> Path:
    path = tmp_path / "params.yaml"
    params = {"active": active, "synthesize": synth_params(tmp_path)}
    path.write_text(yaml.safe_dump(params | ({"al_experiment": experiment} if experiment else {})))
    return path


def test_the_demo_runs_badge_wide_and_the_experiment_the_standard_recipe():
    """The committed params.yaml: the demo's loop is the configuration measured clearly
    ahead of random (badge, 200 images a round, 2 short rounds each), while the
    experiment's runs keep the recipe they were made with (100 images, the synthesize
    stage's 4 samples each), so their fingerprints, and so the kept rounds, stay valid."""
    from flows.active import load_config
    from vit.active.experiment import variant_config

    params = str(Path(__file__).resolve().parents[2] / "params.yaml")
    demo = load_config(params, None)[0]
    assert (demo.strategy, demo.budget, demo.synth) == ("badge", 200, {"n_per_type": {"short": 2}})
    exp_cfg, _, exp = load_config(params, None, experiment=True)
    assert (exp_cfg.budget, exp_cfg.synth) == (100, {})
    wide = variant_config(exp_cfg, "badge-wide", exp["variants"])
    assert (wide.strategy, wide.budget, wide.synth) == (demo.strategy, demo.budget, demo.synth)


def test_experiment_settings_have_their_own_section(tmp_path):
    """`al_experiment` (so editing it leaves the `active` stage up to date); the old place
    inside `active` is still read, and the new section wins over it."""
    from flows.active import load_config

    active = {"strategy": "random", "rounds": 1}
    new = write_params(tmp_path, active, {"seeds": [4, 5], "set": {"rounds": 3}})
    cfg, _, exp = load_config(str(new), None, experiment=True)
    assert exp["seeds"] == [4, 5] and cfg.rounds == 3
    assert load_config(str(new), None)[0].rounds == 1  # the loop itself: `active` only
    old = write_params(tmp_path, active | {"experiment": {"seeds": [7], "out": "x"}})
    assert load_config(str(old), None, experiment=True)[2]["seeds"] == [7]
    both = write_params(
        tmp_path, active | {"experiment": {"seeds": [7], "out": "x"}}, {"seeds": [8]}
    )
    _, _, exp = load_config(str(both), None, experiment=True)
    assert exp["seeds"] == [8] and exp["out"] == "x"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_two_rounds_under_prefect_with_review(
    prefect_api,
    fiftyone_db,
    al_data,
    al_model,
    tmp_path,
):
    from prefect.client.orchestration import get_client

    from flows.active import active_learning

    out = tmp_path / "al"
    cfg = tiny_cfg(al_data, al_model, out, metrics_path=str(tmp_path / "al.json"))
    active = asdict(cfg) | {"review": "on", "review_timeout": 0.0, "review_dataset": "t-al-flow"}
    summary = active_learning(params_path=str(write_params(tmp_path, active)))
    rows = summary["rows"]
    assert [r["round"] for r in rows] == [0, 1, 2]

    held_out = {r.id for r in Dataset.open(al_data) if r.split != "train"}
    seen: set[str] = set()
    for k, row in enumerate(rows):
        d = out / f"round-{k}"
        sel = lines(d / "selected.jsonl")
        ids = [s["id"] for s in sel]
        assert len(ids) == len(set(ids)) == (6 if k == 0 else 4)
        assert not set(ids) & held_out and not set(ids) & seen  # never held out, never twice
        seen |= set(ids)
        assert {s["strategy"] for s in sel} == {"seed" if k == 0 else "hybrid"}
        assert (d / "model" / "DONE").exists() and not (d / "model" / "checkpoints").exists()
        assert json.loads((d / "eval.json").read_text())["n_items"] == 4
        assert row["images"] == len(seen) and 0 <= row["accuracy"] <= 1
        review = json.loads((d / "review.json").read_text())
        assert (review["mode"], review["reason"], review["accepted"]) == ("on", "timeout", len(ids))
        if k:
            scores = lines(d / "scores.jsonl")
            assert {"uncertainty", "diversity", "loss", "entropy", "margin"} <= set(scores[0])
            assert len(scores) == 30 - len(seen) + 4  # the pool before this round's picks
    # Round 0's hardest training images came back in round 1 as renamed variants.
    hard0 = lines(out / "round-0" / "hard.jsonl")
    assert len(hard0) == 2 and {h["variant"] for h in hard0} == {1}
    train1 = list(Dataset.open(out / "round-1" / "train"))
    variants = [r for r in train1 if r.metadata["active"]["variant"] == 1]
    assert {r.metadata["synth"]["source_id"] for r in variants} == {h["id"] for h in hard0}
    assert all(r.id.endswith("-v1") for r in variants)
    assert rows[1]["samples"] == rows[0]["samples"] + 4 + len(variants)
    assert not (out / "round-2" / "hard.jsonl").exists()  # nothing would train on it

    metrics = json.loads((tmp_path / "al.json").read_text())
    assert list(metrics["runs"]["hybrid/seed-0"]) == ["round-0", "round-1", "round-2"]
    assert metrics["curves"]["hybrid"]["samples"] == [r["samples"] for r in rows]
    assert (out / "plots" / "curve.csv").read_text().count("\n") == 4  # header + 3 rounds

    import fiftyone as fo

    ds = fo.load_dataset("t-al-flow")
    assert {"round-1 selected", "round-2 selected", "hard examples", "wrong answers"} <= set(
        ds.list_saved_views()
    )
    sel2 = {s["id"] for s in lines(out / "round-2" / "selected.jsonl")}
    assert set(ds.load_saved_view("round-2 selected").values("vit_id")) == sel2
    assert ds.load_saved_view("hard examples").count() >= 2
    probed = ds.exists("al_probe_answers")
    assert probed.count() > 0 and set(probed.distinct("al_probe_round")) <= {1, 2}

    with get_client(sync_client=True) as client:
        names = {t.name for t in client.read_task_runs()}
    for phase in ("score", "select", "synth", "review", "train", "evaluate"):
        assert {f"{phase}-round-1", f"{phase}-round-2"} <= names, phase
    assert "hard-round-0" in names and "hard-round-2" not in names


@pytest.mark.slow
def test_vit_al_experiment_writes_curves_for_every_strategy_and_seed(
    prefect_api,
    al_data,
    al_model,
    tmp_path,
    monkeypatch,
    capsys,  # noqa: F811
):
    from flows.cli import main

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    # `active` asks for no rounds; the experiment's own `set` gives its runs one (2 rows)
    cfg = tiny_cfg(al_data, al_model, tmp_path / "unused", rounds=0, hard_top=1)
    experiment = {
        "set": {"rounds": 1},
        "seeds": [0, 1],
        "out": str(tmp_path / "exp"),
        "metrics_path": str(tmp_path / "al_experiment.json"),
        "png": str(tmp_path / "al_curves.png"),
        # a configured strategy runs under its own name (folder, curve, report)
        "variants": {"div": {"strategy": "diversity", "probes_per_image": 1}},
        "strategies": ["random", "div"],  # what a bare `vit al report` reads back
    }
    params = write_params(tmp_path, asdict(cfg), experiment)
    argv = ["--params", str(params), "al", "experiment", "--strategies", "random", "div"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index('{\n  "curves"') :])  # the command's summary, last
    rep = json.loads((tmp_path / "al_experiment.json").read_text())
    assert set(rep["runs"]) == {f"{s}/seed-{n}" for s in ("random", "div") for n in (0, 1)}
    for seed in (0, 1):
        # Both strategies continue from the same seed round: same seed set, same model.
        seed_ids = lines(tmp_path / "exp" / f"seed-{seed}" / "seed" / "round-0" / "selected.jsonl")
        assert (
            rep["runs"][f"random/seed-{seed}"]["round-0"]
            == rep["runs"][f"div/seed-{seed}"]["round-0"]
        )
        assert len(seed_ids) == 6
        assert not (tmp_path / "exp" / f"seed-{seed}" / "random" / "round-0").exists()
    assert (tmp_path / "exp" / "seed-0" / "div" / "round-1" / "selected.jsonl").exists()
    c = rep["curves"]["div"]
    assert c["seeds"] == 2 and len(c["mean"]) == 2 and c["min"][1] <= c["mean"][1] <= c["max"][1]
    assert set(rep["vs_random"]) == {"div"}
    assert rep["vs_random"]["div"]["paired"]["seeds"] == [0, 1]
    # every round's row says where its answers were right, by scene crowding
    crowd = rep["runs"]["div/seed-0"]["round-1"]["by_objects"]
    assert crowd and set(crowd) <= {"1", "2-3", "4-6", "7+"}
    assert (tmp_path / "al_curves.png").stat().st_size > 10_000
    csv = (tmp_path / "exp" / "plots" / "random.csv").read_text().splitlines()
    assert csv[0] == "round,samples,accuracy,accuracy_min,accuracy_max" and len(csv) == 3
    assert printed["final"] == rep["final"] and printed["vs_random"] == rep["vs_random"]
    # `vit al report` rebuilds the same report from the rounds on disk (how seeds run as
    # separate processes are merged); a strategy folder made from another seed round is
    # left out rather than mixed in.
    (tmp_path / "al_experiment.json").unlink()
    assert main(["--params", str(params), "al", "report", "--strategies", "random", "div"]) == 0
    again = json.loads((tmp_path / "al_experiment.json").read_text())

    def untimed(r):  # the seed round's row read back also carries its phase timings
        return {
            k: {n: {f: v for f, v in row.items() if f != "seconds"} for n, row in rows.items()}
            for k, rows in r["runs"].items()
        }

    assert untimed(again) == untimed(rep)
    assert {k: again[k] for k in ("curves", "final", "vs_random")} == {
        k: rep[k] for k in ("curves", "final", "vs_random")
    }
    stamp = tmp_path / "exp" / "seed-1" / "div" / "run.json"
    stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "seed_run": "other"}))
    assert main(["--params", str(params), "al", "report", "--fresh"]) == 0
    merged = json.loads((tmp_path / "al_experiment.json").read_text())
    assert set(merged["runs"]) == set(rep["runs"]) - {"div/seed-1"}
    assert "kept_from_report" not in merged
    # An experiment over a few of the runs (here finished: it only reads them back) keeps
    # the others in the report instead of writing a report of its own few.
    argv = ["--params", str(params), "al", "experiment", "--strategies", "random", "--seeds", "0"]
    assert main(argv) == 0
    partial = json.loads((tmp_path / "al_experiment.json").read_text())
    assert set(partial["runs"]) == set(merged["runs"])
    assert partial["vs_random"] == merged["vs_random"]
    # The report is the experiment's ledger: a run whose folders are gone (made on another
    # machine, or removed to save space) stays in it, listed, until a run on disk replaces
    # it; `--fresh` reports the disk alone.
    shutil.rmtree(tmp_path / "exp" / "seed-1" / "random")
    assert main(["--params", str(params), "al", "report"]) == 0
    ledger = json.loads((tmp_path / "al_experiment.json").read_text())
    assert ledger["kept_from_report"] == ["random/seed-1"]
    assert untimed(ledger) == untimed(partial) and ledger["vs_random"] == partial["vs_random"]
    assert main(["--params", str(params), "al", "report", "--fresh"]) == 0
    fresh = json.loads((tmp_path / "al_experiment.json").read_text())
    assert set(fresh["runs"]) == set(partial["runs"]) - {"random/seed-1"}
    # A run on disk scored on other held-out items (made before the probe questions
    # changed) joins no curve and is named; running it again scores its kept models anew,
    # training nothing.
    round_1 = tmp_path / "exp" / "seed-0" / "div" / "round-1"
    done = (round_1 / "model" / "DONE").stat().st_mtime_ns
    for name in ("eval.json", "summary.json"):
        report = json.loads((round_1 / name).read_text())
        (round_1 / name).write_text(json.dumps({**report, "eval_set": "older-items"}))
    capsys.readouterr()
    assert main(["--params", str(params), "al", "report", "--fresh"]) == 0
    assert "warning: div/seed-0 were scored on other held-out items" in capsys.readouterr().out
    aside = json.loads((tmp_path / "al_experiment.json").read_text())
    assert set(aside["runs"]) == set(fresh["runs"]) - {"div/seed-0"}
    assert list(aside["other_eval_set"]) == ["div/seed-0"]
    argv = ["--params", str(params), "al", "experiment", "--strategies", "div", "--seeds", "0"]
    assert main(argv) == 0
    assert (round_1 / "model" / "DONE").stat().st_mtime_ns == done
    assert json.loads((round_1 / "eval.json").read_text())["eval_set"] != "older-items"
    back = json.loads((tmp_path / "al_experiment.json").read_text())
    assert set(back["runs"]) == set(fresh["runs"]) and "other_eval_set" not in back
    assert back["vs_random"] == fresh["vs_random"]
    # A ledger run scored on other held-out items (the probe questions changed since, and
    # its models are gone, so it cannot be scored again) stays recorded under
    # `other_eval_set`, in no curve, report after report.
    for row in ledger["runs"]["random/seed-1"].values():
        row["eval_set"] = "older-items"
    (tmp_path / "al_experiment.json").write_text(json.dumps(ledger))
    for _ in range(2):
        assert main(["--params", str(params), "al", "report"]) == 0
        split = json.loads((tmp_path / "al_experiment.json").read_text())
        assert set(split["runs"]) == set(fresh["runs"]) and "kept_from_report" not in split
        assert split["other_eval_set"] == {"random/seed-1": ledger["runs"]["random/seed-1"]}
        assert split["curves"]["random"]["seeds"] == 1
    assert '"other_eval_set": [\n    "random/seed-1"' in capsys.readouterr().out
