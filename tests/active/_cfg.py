"""What the AL tests share: 40 small split scenes, a tiny LLaVA on their text (fixtures, used
by tests/active and tests/flows/test_active.py), and loop settings that make a round take a
few seconds on 2 cores."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._tiny import tiny_config
from vit.active.config import ActiveConfig

SIZE = 32
N_SCENES = 40


@contextmanager
def single_thread():
    """torch on one thread: the tiny model's matrices are too small to share, and on a busy
    2-core machine two threads wait on each other (scoring 10x slower, measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    with single_thread():
        yield


def split_of(i: int) -> str:
    return "test" if i % 8 == 0 else "val" if i % 8 == 4 else "train"


@pytest.fixture(scope="session")
def al_data(tmp_path_factory) -> Path:
    """40 clean 32 px scenes: 30 train, 5 val, 5 test."""
    from vit.ingest import ingest
    from vit.records import Dataset, write_dataset
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("al-scenes")
    generate_scenes(root / "raw", n=N_SCENES, seed=4, size=SIZE, defect_rate=0.0)
    ingest("vitflow", root / "raw" / "scenes.jsonl", root / "ingested", image_root=root / "raw")
    ds = Dataset.open(root / "ingested")
    records = list(ds)
    for i, rec in enumerate(records):
        rec.split = split_of(i)
    write_dataset(root / "data", records, ds.image_root)
    return root / "data"


@pytest.fixture(scope="session")
def al_model(tmp_path_factory, al_data) -> Path:
    """A tiny LLaVA (tests/_tiny.py) whose tokenizer saw the scenes' texts and the probes."""
    from vit.evaluate.questions import make_eval_set
    from vit.model import build_model
    from vit.records import Dataset

    records = list(Dataset.open(al_data))
    texts = [c for r in records for c in r.captions]
    texts += [t["value"] for r in records for t in r.conversations]
    texts += [f"{i.question} {i.answer}" for i in make_eval_set(records, per_image=6)]
    out = tmp_path_factory.mktemp("al-model") / "tiny"
    return build_model(tiny_config(image_size=SIZE), texts * 3, out)


def tiny_cfg(data, model, out, **kw) -> ActiveConfig:
    args = dict(
        strategy="hybrid",
        budget=4,
        rounds=2,
        seed_size=6,
        data=str(data),
        base_model=str(model),
        out=str(out),
        metrics_path="",
        steps=2,
        lr=1e-3,
        batch_size=4,
        # max_length: the tiny tokenizer spends many tokens per word; a conversation whose
        # first answer does not fit is refused (by design), so leave room
        train={
            "save_steps": 1,
            "logging_steps": 1,
            "warmup_ratio": 0.0,
            "bf16": False,
            "max_length": 640,
        },
        probes_per_image=2,
        score_batch_size=16,
        hard_top=2,
        hard_cap=1,
        eval_limit=4,
        eval_max_new_tokens=3,
        cache_root=str(out / "emb"),
    )
    return ActiveConfig(**{**args, **kw})


def synth_params(tmp_path) -> dict:
    return {"dedup": False, "cache_dir": str(tmp_path / "synth_cache")}


def al_rows(accs: list[float], crowd: dict[str, float] | None = None) -> list[dict]:
    """Hand-made rows of one run: accuracy per round, 480 more samples a round."""
    return [
        {"round": k, "samples": 400 + 480 * k, "accuracy": a, "by_objects": crowd or {}}
        for k, a in enumerate(accs)
    ]
