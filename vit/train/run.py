"""`vit train`: one tuning stage of a LLaVA-family model on a vitflow dataset, with Trainer.

    from vit.train import TrainConfig, train
    train("data/model/init", "data/dedup", "data/train/align", TrainConfig(stage="align"))

transformers' Trainer runs the loop (accelerate underneath, so `accelerate launch` with a
config from configs/accelerate/ scales it to many GPUs): AdamW with per-module learning
rates, warmup + schedule, weight decay, gradient accumulation, bf16 on CUDA, evaluation on
the validation split with early stopping on eval_loss, checkpoints every `save_steps` with the
resolved TrainConfig inside, and auto-resume from the last checkpoint, so a killed run started
again continues and finishes. The final model (LoRA merged, joint head removed) goes to
OUT/model in HF format with its processor; OUT/history.json holds the loss history,
OUT/loss.png its curve.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from vit.train.config import TrainConfig
from vit.train.data import TrainData, has_split
from vit.train.freeze import HEADS, apply_freeze, is_from_scratch, lora_modules_to_save
from vit.train.history import write_history
from vit.train.joint import attach_head, detach_head
from vit.train.patch_head import PATCH_HEAD, PatchLabelCollator, attach_patch_head, grid_of
from vit.train.resume import resume_point

MODEL_DIR = "model"


def train(
    model_path: str,
    data: str,
    out: str,
    config: TrainConfig,
    eval_data: str | None = None,
    *,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train one stage; returns a summary (losses, steps, seconds, trainable parameters)."""
    from transformers import set_seed

    start = time.time()
    out_p = Path(out)
    out_p.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    scratch = is_from_scratch(model_path, config)
    model, processor = load_for_training(model_path, config)
    model, counts = prepare_model(model, config, scratch)
    trainer = make_trainer(model, processor, data, eval_data, out_p, config, callbacks)
    resume = resume_point(config, Path(trainer.args.output_dir), trainer.is_world_process_zero())
    result = trainer.train(resume_from_checkpoint=resume)
    model_dir = export(trainer, processor, model_path, out_p / MODEL_DIR, config)
    if trainer.is_world_process_zero():
        write_history(trainer.state.log_history, out_p)
    return summarize(trainer, result, counts, model_dir, resume, time.time() - start)


def make_trainer(
    model: Any,
    processor: Any,
    data: str,
    eval_data: str | None,
    out: Path,
    config: TrainConfig,
    callbacks: list[Any] | None,
) -> Any:
    """The VitTrainer for this stage: data, collator, arguments and callbacks wired up."""
    from vit.train.trainer import (
        EpochCallback,
        SaveConfigCallback,
        VitTrainer,
        native_checkpoints,
    )

    native_checkpoints(model)
    train_ds, eval_ds = datasets(data, eval_data, config.stage)
    own = [SaveConfigCallback(config), EpochCallback(train_ds), *stop_callbacks(config, eval_ds)]
    trainer = VitTrainer(
        model=model,
        args=training_args(config, checkpoint_dir(out, config), eval_ds is not None),
        data_collator=collator(model, processor, config),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=processor,
        callbacks=own + list(callbacks or []),
        vit_config=config,
    )
    check_setup(trainer, config)
    return trainer


def collator(model: Any, processor: Any, config: TrainConfig) -> Any:
    """The VLM collator, plus per-patch labels when the dense grounding loss is on; images
    and patch labels only for the vision stage."""
    from vit.model.collate import VLMCollator
    from vit.train.vision import VisionCollator

    grid = grid_of(model)
    if config.stage == "vision":
        return VisionCollator(processor, grid, config.hflip)
    base = VLMCollator(processor, config.max_length, cache_size=config.encode_cache)
    if config.lambda_patch <= 0:
        return base
    return PatchLabelCollator(base, grid)


def load_for_training(model_path: str, config: TrainConfig) -> tuple[Any, Any]:
    """(model in float32 on the CPU, processor); Trainer moves it and autocasts to bf16."""
    from vit.model.build import load_model

    model, processor = load_model(model_path, device="cpu", dtype="float32")
    set_dropout(model, config.dropout)
    model.config.use_cache = False  # the KV cache only costs memory while training
    return model, processor


def set_dropout(model: Any, p: float) -> None:
    """Attention dropout of the language model (Llama reads it at forward time)."""
    text = getattr(model.config, "text_config", model.config)
    if hasattr(text, "attention_dropout"):
        text.attention_dropout = p
    for name, module in model.named_modules():
        if "language_model" in name and hasattr(module, "attention_dropout"):
            module.attention_dropout = p


def prepare_model(model: Any, config: TrainConfig, scratch: bool) -> tuple[Any, dict[str, int]]:
    """Attach the joint head, wrap with LoRA, freeze; returns (model, trainable per module)."""
    joint = config.lambda_img > 0
    if joint:
        attach_head(model, config.img_target_size, config.seed)
    if config.lambda_patch > 0:
        attach_patch_head(model, config.seed, config.patch_position)
    if config.lora:
        model = wrap_lora(model, config, lora_modules_to_save(config, scratch, joint))
    return model, apply_freeze(model, config, scratch)


def wrap_lora(model: Any, config: TrainConfig, modules_to_save: list[str]) -> Any:
    """peft LoRA on the language model's target layers only (the CLIP tower has q/k/v too)."""
    from peft import LoraConfig, get_peft_model

    targets = "|".join(config.lora_targets)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=rf".*language_model.*\.({targets})",
        modules_to_save=modules_to_save or None,
    )
    return get_peft_model(model, lora)


def datasets(data: str, eval_data: str | None, stage: str) -> tuple[Any, Any]:
    """Train split of `data` (all of it when unsplit); val split of eval_data or data."""
    train_ds = TrainData(data, stage, "train" if has_split(data, "train") else None)
    source = eval_data or data
    split = "val" if has_split(source, "val") else None
    if split is None and eval_data is None:
        return train_ds, None
    try:
        return train_ds, TrainData(source, stage, split)
    except ValueError:
        return train_ds, None  # nothing to evaluate for this stage: no early stopping


def checkpoint_dir(out: Path, config: TrainConfig) -> Path:
    return Path(config.output_dir) if config.output_dir else out / "checkpoints"


def use_bf16(config: TrainConfig) -> bool:
    import torch

    if isinstance(config.bf16, bool):
        return config.bf16
    if str(config.bf16).lower() != "auto":
        return str(config.bf16).lower() in ("1", "true", "yes")
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def training_args(config: TrainConfig, output_dir: Path, has_eval: bool) -> Any:
    import torch
    from transformers import TrainingArguments

    save_steps = config.save_steps
    if has_eval and save_steps % config.eval_steps:
        # load_best_model_at_end needs every evaluation's model saved: round up.
        save_steps = config.eval_steps * math.ceil(save_steps / config.eval_steps)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.lr,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio if config.warmup_ratio > 0 else 0,
        weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        bf16=use_bf16(config),
        torch_compile=config.torch_compile,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps if has_eval else None,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False if has_eval else None,
        prediction_loss_only=True,
        remove_unused_columns=False,  # the collator needs id/image/conversations
        # the vision stage's batches carry patch labels only: evaluate on those
        label_names=["patch_labels"] if config.stage == "vision" else None,
        dataloader_num_workers=config.num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to="none",
        seed=config.seed,
    )


def stop_callbacks(config: TrainConfig, eval_ds: Any) -> list[Any]:
    from transformers import EarlyStoppingCallback

    if eval_ds is None or config.early_stopping_patience <= 0:
        return []
    return [EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)]


def export(trainer: Any, processor: Any, model_path: str, out: Path, config: TrainConfig) -> Path:
    """The final model as a plain HF checkpoint: LoRA merged, joint head removed."""
    from vit.model.build import CONFIG_FILE
    from vit.train.trainer import write_config

    model = trainer.accelerator.unwrap_model(trainer.model)
    state = None
    if trainer.is_fsdp_enabled:
        # Every rank holds a shard: gather the full state dict (a collective, all ranks call).
        full = trainer.accelerator.get_state_dict(trainer.model)
        state = {k: v for k, v in full.items() if not any(h in k for h in HEADS)}
    if config.lora:
        model = model.merge_and_unload()
    detach_head(model)
    if hasattr(model, PATCH_HEAD):
        delattr(model, PATCH_HEAD)
    model.config.use_cache = True
    model.__dict__.pop("save_pretrained", None)  # the hub layout again (native_checkpoints)
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, state_dict=state)
        processor.save_pretrained(out)
        write_config(out, config)
        # Keep the from-scratch marker: stage 2 must still treat the tower as trainable.
        src = Path(model_path) / CONFIG_FILE
        if src.exists():
            shutil.copyfile(src, out / CONFIG_FILE)
    return out


def check_setup(trainer: Any, config: TrainConfig) -> None:
    """Refuse, before any step, what could not be exported at the end."""
    if config.stage == "vision" and trainer.args.world_size > 1:
        raise ValueError(
            "stage 'vision' runs in one process (it calls the tower directly, outside DDP's "
            "gradient sync); it is the small from-scratch tower's warm-up"
        )
    if config.lora and trainer.is_fsdp_enabled:
        raise ValueError(
            "LoRA under FSDP: merging needs whole weights; use configs/accelerate/ddp.yaml or "
            "deepspeed_zero2.yaml for LoRA, or full tuning under FSDP"
        )


def summarize(
    trainer: Any, result: Any, counts: dict[str, int], model_dir: Path, resume: Any, secs: float
) -> dict[str, Any]:
    evals = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    return {
        "train_loss": result.training_loss,
        "eval_loss": trainer.state.best_metric if evals else None,
        "last_eval_loss": evals[-1] if evals else None,
        "global_step": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "seconds": round(secs, 2),
        "trainable_params": sum(counts.values()),
        "trainable_by_module": counts,
        "resumed_from": resume,
        "model": str(model_dir),
    }
