"""`dvc repro` of the real dvc.yaml in a temporary repo: runs once, then changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


@pytest.fixture
def repo(tmp_path, prefect_api) -> tuple[Path, dict]:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo)
    (repo / "data/review").mkdir(parents=True)
    shutil.copy(ROOT / "data/review/overrides.json", repo / "data/review")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"].update(n=40, size=48)
    params["digits"].update(limit=30)
    params["dedup"]["cache_root"] = str(tmp_path / "embcache")
    params["model"].update(image_size=32, vision_hidden=32, text_hidden=32)
    for stage in ("train_vision", "train_align", "train_instruct"):
        params[stage].update(max_steps=3, eval_steps=2, save_steps=2, batch_size=4)
    params["evaluate"]["per_image"] = 1
    params["active"].update(
        seed_size=4,
        budget=3,
        rounds=1,
        steps=2,
        batch_size=4,
        probes_per_image=1,
        eval_per_image=1,
        hard_top=2,
    )
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PREFECT_API_URL": prefect_api}
    _run(["git", "init", "-q"], repo, env)
    _run([str(BIN / "dvc"), "init", "-q"], repo, env)
    _run([str(BIN / "dvc"), "remote", "add", "-d", "local", str(tmp_path / "remote")], repo, env)
    return repo, env


@pytest.mark.slow
def test_repro_twice_then_push_pull(repo):
    repo, env = repo
    dvc = str(BIN / "dvc")
    _run([dvc, "repro"], repo, env)
    assert (repo / "data/export/llava/data.json").exists()
    assert (repo / "data/export/hf").is_dir()
    metrics = json.loads((repo / "metrics/ingest_scenes.json").read_text())
    assert metrics["kept"] >= 40 and metrics["rejected"] > 0
    dedup = json.loads((repo / "metrics/dedup_scenes.json").read_text())
    assert dedup["leakage"] == 0
    exact = dedup["groundtruth"]["exact_duplicate"]
    assert exact["removed"] == exact["injected"]  # few defects at n=40, but all caught
    synth = json.loads((repo / "metrics/synth.json").read_text())
    assert synth["total"]["kept"] > 0
    evaluation = json.loads((repo / "metrics/eval.json").read_text())
    assert set(evaluation["overall"]) == {"tuned", "stage1", "majority", "blind"}

    second = _run([dvc, "repro"], repo, env)
    assert "Running stage" not in second  # nothing changed, nothing ran
    assert "up to date" in _run([dvc, "status"], repo, env)

    _run([dvc, "push"], repo, env)
    for out in (repo / "data").iterdir():  # every DVC output; review/ is git's
        if out.name != "review":
            shutil.rmtree(out) if out.is_dir() else out.unlink()
    _run([dvc, "pull"], repo, env)
    assert (repo / "data/export/llava/data.json").exists()
    assert "up to date" in _run([dvc, "status"], repo, env)


@pytest.mark.slow
def test_param_change_reruns_only_what_depends_on_it(repo):
    repo, env = repo
    dvc = str(BIN / "dvc")
    _run([dvc, "repro"], repo, env)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["digits"]["limit"] = 20
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    out = _run([dvc, "repro"], repo, env)
    assert "generate_digits" in out and "Running stage 'generate_scenes'" not in out
    assert json.loads((repo / "metrics/ingest_digits.json").read_text())["kept"] == 20
