"""16 tiny scenes (12 train, 4 val) and a tiny LLaVA built from config on their text."""

from __future__ import annotations

import pytest

from tests._tiny import tiny_config

SIZE = 32


def tiny_model_config():
    return tiny_config(image_size=SIZE)


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> str:
    """A vitflow dataset of 16 clean scenes with train/val splits."""
    from vit.ingest import ingest
    from vit.records import Dataset, write_dataset
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("scenes")
    generate_scenes(root / "raw", n=16, size=SIZE, defect_rate=0.0)
    ingest("vitflow", root / "raw" / "scenes.jsonl", root / "ingested", image_root=root / "raw")
    ds = Dataset.open(root / "ingested")
    records = list(ds)
    for i, rec in enumerate(records):
        rec.split = "val" if i % 4 == 3 else "train"
    write_dataset(root / "data", records, ds.image_root)
    return str(root / "data")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, scenes) -> str:
    from vit.model import build_model
    from vit.records import Dataset

    texts = []
    for rec in Dataset.open(scenes):
        texts += rec.captions + [t["value"] for t in rec.conversations]
    texts.append("Describe the image briefly.")
    out = tmp_path_factory.mktemp("model") / "tiny"
    return str(build_model(tiny_model_config(), texts * 4, out))


def small(**kw):
    """A TrainConfig that runs a few CPU steps fast; keyword arguments override."""
    from vit.train import TrainConfig

    args = dict(
        stage="align",
        max_steps=3,
        lr=1e-2,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        batch_size=4,
        max_length=128,
        logging_steps=1,
        save_steps=100,
        eval_steps=100,
        bf16=False,
    )
    return TrainConfig(**{**args, **kw})
