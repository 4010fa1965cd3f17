"""kill -9 `vit train` after its first checkpoint, then again in the middle of writing one: the
same command continues from the last whole checkpoint (not the torn one), finishes at
max_steps with every step logged once, and ends with the weights of an uninterrupted run.

(tests/train/test_run.py stops a run in-process with an exception at a step; this is the real
process killed by the kernel, through the CLI and its Prefect flow.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults._proc import finish, kill9, start, vit_argv, vit_env, wait_for

pytestmark = pytest.mark.slow
STEPS, SAVE = 16, 4  # checkpoints at 4, 8, 12, 16: chances to catch a save
TRAIN = {
    "stage": "align",
    "max_steps": STEPS,
    "save_steps": SAVE,
    "save_total_limit": 10,
    "lr": 0.01,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.0,
    "batch_size": 4,
    "max_length": 128,
    "logging_steps": 1,
    "bf16": False,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[str, str]:
    """(model folder, dataset folder): 16 scenes and a tiny LLaVA built on their text."""
    from tests._tiny import tiny_config
    from vit.ingest import ingest
    from vit.model import build_model
    from vit.records import Dataset
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("train-src")
    generate_scenes(root / "raw", n=16, size=32, defect_rate=0.0)
    ingest("vitflow", root / "raw" / "scenes.jsonl", root / "data", image_root=root / "raw")
    texts = [t for r in Dataset.open(root / "data") for t in r.captions]
    model = build_model(tiny_config(image_size=32), texts * 4, root / "model")
    return str(model), str(root / "data")


def argv(tiny: tuple[str, str], out: Path) -> list[str]:
    model, data = tiny
    sets = [a for k, v in TRAIN.items() for a in ("--set", f"{k}={v}")]
    return vit_argv("train", "--model", model, "--data", data, "--out", str(out), *sets)


def whole(ckpt: Path) -> bool:
    return (ckpt / "trainer_state.json").exists()  # the Trainer writes it last


def checkpoints(out: Path) -> list[Path]:
    ckpts = (out / "checkpoints").glob("checkpoint-*")
    return sorted(ckpts, key=lambda p: int(p.name.split("-")[1]))


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> dict:
    """The final weights of an uninterrupted run (in this process: the same library call)."""
    from vit.train import TrainConfig, train

    out = tmp_path_factory.mktemp("train-ref") / "out"
    summary = train(*tiny, str(out), TrainConfig(**TRAIN))
    assert summary["global_step"] == STEPS and summary["resumed_from"] is None
    return weights(out)


def test_killed_training_resumes_from_its_last_whole_checkpoint(
    tiny, reference, tmp_path, prefect_api
):
    import torch

    out, env = tmp_path / "out", vit_env(prefect_api)
    # 1. Killed once its first checkpoint is written.
    proc = start(argv(tiny, out), tmp_path, env, tmp_path / "run1.log")
    wait_for(proc, lambda: whole(out / "checkpoints" / f"checkpoint-{SAVE}"), tmp_path / "run1.log")
    kill9(proc)
    first = [c.name for c in checkpoints(out) if whole(c)]
    assert first and not (out / "model").exists()

    # 2. Started again, and killed while it writes a later checkpoint (a save takes a few ms:
    # each try resumes and tries the next save, until one is caught half-written).
    torn: list[str] = []
    for attempt in range(3):
        log = tmp_path / f"run2-{attempt}.log"
        proc = start(argv(tiny, out), tmp_path, env, log)
        wait_for(proc, lambda: [c for c in checkpoints(out) if not whole(c)], log)
        kill9(proc)
        torn = [c.name for c in checkpoints(out) if not whole(c)]
        if torn:
            break
    assert torn, "never killed in the middle of a checkpoint"
    wholes = [c.name for c in checkpoints(out) if whole(c)]
    held = sorted(p.name for p in (out / "checkpoints" / torn[0]).iterdir())

    # 3. Started again: continues from the last whole checkpoint, not the torn one.
    summary = finish(argv(tiny, out), tmp_path, env, tmp_path / "run3.log")
    assert Path(summary["resumed_from"]).name == wholes[-1]
    assert summary["global_step"] == STEPS
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history if "loss" in h] == list(range(1, STEPS + 1))
    got = weights(out)  # the same model an uninterrupted run ends with
    assert got.keys() == reference.keys()
    assert all(torch.allclose(got[k], reference[k], atol=1e-5) for k in got)
    print(
        f"\ntrain kill -9: after {first[-1]}; again inside {torn[0]} "
        f"(holding only {held}); "
        f"restart resumed from {wholes[-1]}, finished at step {summary['global_step']}"
    )
