"""Prefect flows for the model: build a tiny LLaVA from config, and tune it in a stage.

    vit model build --data data/synth/scenes --out data/model/init
    vit train --model data/model/init --data data/synth/scenes --out data/model/align --section train_align

Training is one coarse task; the Trainer checkpoints every `save_steps`, so a killed run
started again resumes from its last checkpoint. Multi-GPU runs go through
`accelerate launch -m vit.train` with a config from configs/accelerate/.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task


def corpus(data: str) -> list[str]:
    """Texts the from-scratch tokenizer learns from: captions and every turn."""
    from vit.records import Dataset

    texts: list[str] = []
    for rec in Dataset.open(data):
        texts += rec.captions + [t["value"] for t in rec.conversations]
    return texts


@task(name="build-model")
def build_task(data: str, out: str, params: dict[str, Any]) -> str:
    from vit.config import build
    from vit.model import ModelConfig, build_model

    return str(build_model(build(ModelConfig, params, "params.yaml: model"), corpus(data), out))


@task(name="train")
def train_task(
    model: str, data: str, out: str, params: dict[str, Any], eval_data: str | None
) -> dict:
    from vit.config import build
    from vit.train import TrainConfig, train

    return train(model, data, out, build(TrainConfig, params, "params.yaml: train"), eval_data)


@flow(name="build-model", log_prints=True)
def build_model_flow(data: str, out: str, params: dict[str, Any] | None = None) -> str:
    """A small LLaVA (CLIP vision tower + Llama LM) from config, with a tokenizer trained on
    the corpus, saved as a standard checkpoint that AutoModelForImageTextToText loads."""
    path = build_task(data, out, params or {})
    print(f"built {path}")
    return path


@flow(name="train", log_prints=True)
def train_flow(
    model: str,
    data: str,
    out: str,
    params: dict[str, Any] | None = None,
    eval_data: str | None = None,
) -> dict[str, Any]:
    """One tuning stage (align or instruct) with the transformers Trainer."""
    summary = train_task(model, data, out, params or {}, eval_data)
    print(
        f"train {out}: steps {summary.get('global_step')}, train loss {summary.get('train_loss')}, "
        f"eval loss {summary.get('eval_loss')}"
    )
    return summary
