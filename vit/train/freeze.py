"""What learns in a stage: module freezing, the top-N-layers option, per-module lr groups.

LLaVA's recipe assumes pretrained parts: stage 1 (align) trains only the projector, stage 2
(instruct) the projector and the language model, and the vision tower stays frozen. A
vitflow model built from config has random weights everywhere, and a frozen random tower
sees nothing, so "auto" lets everything learn for it. Parameters are told apart by name,
which also works through peft's and DDP's wrappers (they only add prefixes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vit.train.config import MODULES, TrainConfig

HEAD = "vitflow_image_head"  # the joint objective's head (vit.train.joint): always learns
HEADS = (HEAD, "vitflow_patch_head")  # training-only heads (vit.train.patch_head too)
_LAYER = re.compile(r"language_model\.(?:model\.)?layers\.(\d+)\.")


def module_of(name: str) -> str:
    """'vision', 'projector', 'lm' or 'head' for a parameter name of a LLaVA-family model."""
    if any(h in name for h in HEADS):
        return "head"
    if "vision_tower" in name or "vision_model" in name:
        return "vision"
    if "multi_modal_projector" in name:
        return "projector"
    return "lm"


def is_from_scratch(model_path: str | Path, config: TrainConfig) -> bool:
    """The config's answer when set, else whether vitflow built the checkpoint from config."""
    if config.from_scratch is not None:
        return bool(config.from_scratch)
    from vit.model.build import CONFIG_FILE

    return (Path(model_path) / CONFIG_FILE).exists()


def trainable_modules(config: TrainConfig, scratch: bool) -> set[str]:
    """The modules whose weights learn in this stage (before LoRA and freeze_top_n)."""
    if config.freeze != "auto":
        return set(MODULES) - set(config.freeze)
    if config.stage == "vision":
        return {"vision"}
    if scratch:
        return set(MODULES)
    return {"projector"} if config.stage == "align" else {"projector", "lm"}


def _frozen_by_top_n(name: str, n_layers: int, top_n: int) -> bool:
    # Below the top N layers, embeddings included, the language model keeps its weights.
    m = _LAYER.search(name)
    if m:
        return int(m.group(1)) < n_layers - top_n
    return "embed_tokens" in name


def apply_freeze(model: Any, config: TrainConfig, scratch: bool) -> dict[str, int]:
    """Set requires_grad on every parameter; returns trainable parameter counts per module.

    With LoRA, call it after wrapping with peft: the LM's own weights stay frozen and only its
    adapters (names containing 'lora_') learn, when the LM is meant to learn at all.
    """
    learn = trainable_modules(config, scratch)
    n_layers = _n_layers(model)
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        mod = module_of(name)
        on = mod == "head" or mod in learn
        if "original_module" in name:
            on = False  # peft's frozen original next to a modules_to_save copy
        if on and mod == "lm" and config.lora:
            on = "lora_" in name
        elif on and mod == "lm" and config.freeze_top_n > 0:
            on = not _frozen_by_top_n(name, n_layers, config.freeze_top_n)
        p.requires_grad_(on)
        if on:
            counts[mod] = counts.get(mod, 0) + p.numel()
    if not counts:
        raise ValueError(f"nothing would learn with freeze={config.freeze!r}")
    return counts


def _n_layers(model: Any) -> int:
    cfg = getattr(model, "config", None)
    text = getattr(cfg, "text_config", cfg)
    return int(getattr(text, "num_hidden_layers", 0) or 0)


def param_groups(model: Any, config: TrainConfig, decay_names: set[str]) -> list[dict]:
    """AdamW groups: one per (module, decays) with the module's own learning rate."""
    groups: dict[tuple[str, bool], list] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault((module_of(name), name in decay_names), []).append(p)
    out = []
    for (mod, decays), params in sorted(groups.items()):
        lr = config.lr if mod == "head" else config.module_lr(mod)
        wd = config.weight_decay if decays else 0.0
        out.append({"params": params, "lr": lr, "weight_decay": wd, "name": f"{mod}"})
    return out


def lora_modules_to_save(config: TrainConfig, scratch: bool, joint: bool) -> list[str]:
    """Non-LM modules that learn next to the adapters: peft must save them in checkpoints."""
    learn = trainable_modules(config, scratch)
    pairs = {"projector": "multi_modal_projector", "vision": "vision_tower"}
    keep = [name for mod, name in pairs.items() if mod in learn]
    keep += [HEAD] if joint else []
    return keep + ([HEADS[1]] if config.lambda_patch > 0 else [])
