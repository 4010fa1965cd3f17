"""End-to-end stages on the tiny model: what changes, LoRA merge, resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vit.train import train
from vit.train.freeze import module_of
from vit.train.trainer import TRAIN_CONFIG_FILE

from .conftest import small

# Unused by LLaVA with vision_feature_layer=-1 (features are taken before it): no gradient.
NO_GRAD = ("post_layernorm",)


def weights(path) -> dict:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(path))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before: dict, after: dict) -> set[str]:
    import torch

    assert before.keys() == after.keys()
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_scratch_model_all_trainable_parameters_change(model_dir, scenes, tmp_path):
    before = weights(model_dir)
    summary = train(model_dir, scenes, str(tmp_path), small())
    after = weights(tmp_path / "model")
    expected = {k for k in before if not any(s in k for s in NO_GRAD)}
    assert changed(before, after) == expected
    assert set(summary["trainable_by_module"]) == {"vision", "projector", "lm"}
    assert summary["global_step"] == 3 and summary["eval_loss"] is not None


def test_pretrained_align_trains_only_the_projector(model_dir, scenes, tmp_path):
    before = weights(model_dir)
    train(model_dir, scenes, str(tmp_path), small(from_scratch=False))
    diff = changed(before, weights(tmp_path / "model"))
    assert diff == {k for k in before if module_of(k) == "projector"}


def test_freeze_list_keeps_frozen_modules_bitwise(model_dir, scenes, tmp_path):
    before = weights(model_dir)
    train(model_dir, scenes, str(tmp_path), small(stage="instruct", freeze=["vision"]))
    diff = changed(before, weights(tmp_path / "model"))
    assert diff == {k for k in before if module_of(k) in ("projector", "lm")}


def test_lora_trains_and_merges(model_dir, scenes, tmp_path):
    before = weights(model_dir)
    cfg = small(stage="instruct", lora=True, lora_r=4, lora_alpha=8)
    summary = train(model_dir, scenes, str(tmp_path), cfg)
    after = weights(tmp_path / "model")  # loads with AutoModelForImageTextToText
    assert not any("lora" in k or "modules_to_save" in k for k in after)
    diff = changed(before, after)
    lm = {k for k in diff if module_of(k) == "lm"}
    assert lm and all(k.split(".")[-2] in cfg.lora_targets for k in lm)  # merged adapters
    assert any(module_of(k) == "projector" for k in diff)  # saved next to the adapters
    assert summary["trainable_by_module"]["lm"] < sum(
        v.numel() for k, v in before.items() if module_of(k) == "lm"
    )


class Kill(Exception):
    pass


def killer(at: int):
    from transformers import TrainerCallback

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == at:
                raise Kill(f"killed at step {at}")

    return KillAt()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"lora": True, "lora_r": 4, "lambda_img": 0.5, "stage": "instruct"},
        {"stage": "vision", "lambda_patch": 1.0},
        {"stage": "instruct", "group_by_length": True},
    ],
    ids=["full", "lora+joint", "vision", "grouped"],
)
def test_resume_after_kill_continues_and_finishes(model_dir, scenes, tmp_path, extra):
    import torch

    cfg = small(max_steps=5, save_steps=2, eval_steps=2, lr_scheduler="linear", **extra)
    with pytest.raises(Kill):
        train(model_dir, scenes, str(tmp_path / "run"), cfg, callbacks=[killer(3)])
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-2"]
    summary = train(model_dir, scenes, str(tmp_path / "run"), cfg)
    assert Path(summary["resumed_from"]).name == "checkpoint-2"
    assert summary["global_step"] == 5
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history if "loss" in h] == [
        1,
        2,
        3,
        4,
        5,
    ]  # the history before the kill survives
    # ... and so do the DVC plot curves, one per series
    plots = tmp_path / "run" / "plots"
    train_curve = json.loads((plots / "loss_train.json").read_text())
    assert [r["step"] for r in train_curve] == [1, 2, 3, 4, 5]
    val_curve = json.loads((plots / "loss_validation.json").read_text())
    assert [r["step"] for r in val_curve] == [h["step"] for h in history if "eval_loss" in h]
    assert val_curve and all(r["loss"] > 0 for r in val_curve)
    # The resumed run ends where an uninterrupted one does: weights really were restored.
    train(model_dir, scenes, str(tmp_path / "straight"), cfg)
    a, b = weights(tmp_path / "run" / "model"), weights(tmp_path / "straight" / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_export_loads_by_path_with_configs_and_history(model_dir, scenes, tmp_path):
    from vit.model import load_model

    cfg = small(stage="instruct", max_steps=2, save_steps=1, eval_steps=1)
    summary = train(model_dir, scenes, str(tmp_path), cfg)
    out = tmp_path / "model"
    assert (out / "model.safetensors").exists() and (out / "vitflow_model.json").exists()
    model, processor = load_model(str(out), device="cpu")
    assert type(model).__name__ == "LlavaForConditionalGeneration" and processor is not None
    saved = json.loads((out / TRAIN_CONFIG_FILE).read_text())
    assert saved["stage"] == "instruct" and saved["max_steps"] == 2
    for ckpt in (tmp_path / "checkpoints").iterdir():
        assert (ckpt / TRAIN_CONFIG_FILE).exists()
    history = json.loads((tmp_path / "history.json").read_text())
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert any("loss" in h for h in history) and any("eval_loss" in h for h in history)
    assert summary["eval_loss"] == min(h["eval_loss"] for h in history if "eval_loss" in h)


def test_training_arguments_follow_the_config(tmp_path):
    from vit.train.run import stop_callbacks, training_args

    cfg = small(save_steps=5, eval_steps=2, grad_accum=3, warmup_ratio=0.1, weight_decay=0.01)
    args = training_args(cfg, tmp_path, has_eval=True)
    assert args.save_steps == 6  # rounded to a multiple of eval_steps for load-best
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert (args.gradient_accumulation_steps, args.weight_decay) == (3, 0.01)
    assert not args.remove_unused_columns and args.lr_scheduler_type == "constant"
    names = [type(c).__name__ for c in stop_callbacks(cfg, eval_ds=object())]
    assert names == ["EarlyStoppingCallback"] and stop_callbacks(cfg, None) == []
    assert not training_args(cfg, tmp_path, has_eval=False).load_best_model_at_end


def test_module_entry_point(model_dir, scenes, tmp_path):
    from vit.train.__main__ import main

    argv = ["--model", model_dir, "--data", scenes, "--out", str(tmp_path)]
    argv += ["--params", str(tmp_path / "none.yaml"), "--set", "max_steps=1", "--set", "bf16=false"]
    argv += ["--set", "batch_size=2", "--set", "freeze=[vision]"]
    summary = main(argv)
    assert summary["global_step"] == 1 and "vision" not in summary["trainable_by_module"]


@pytest.mark.slow
def test_torch_compile_trains_the_same_model(model_dir, scenes, tmp_path):
    """torch_compile=True reaches Trainer, gives eager's losses and an export that loads."""
    import math

    from vit.train.run import training_args

    cfg = small(max_steps=2, torch_compile=True)
    assert training_args(cfg, tmp_path, has_eval=False).torch_compile
    plain = train(model_dir, scenes, str(tmp_path / "eager"), small(max_steps=2))
    compiled = train(model_dir, scenes, str(tmp_path / "compiled"), cfg)
    assert math.isclose(compiled["train_loss"], plain["train_loss"], rel_tol=1e-3)
    before, after = weights(tmp_path / "eager" / "model"), weights(tmp_path / "compiled" / "model")
    assert before.keys() == after.keys()  # no `_orig_mod.` prefixes in the export


@pytest.mark.gpu
def test_bf16_on_cuda(model_dir, scenes, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from vit.train.run import use_bf16

    cfg = small(bf16="auto", max_steps=2)
    assert use_bf16(cfg) == torch.cuda.is_bf16_supported()
    summary = train(model_dir, scenes, str(tmp_path), cfg)
    assert summary["global_step"] == 2 and summary["train_loss"] > 0


def test_changed_settings_refuse_to_resume_unless_never(model_dir, scenes, tmp_path):
    train(model_dir, scenes, str(tmp_path), small(max_steps=2, save_steps=2, eval_steps=2))
    with pytest.raises(ValueError, match="lr"):
        train(model_dir, scenes, str(tmp_path), small(max_steps=2, lr=1e-3))
    summary = train(model_dir, scenes, str(tmp_path), small(max_steps=1, lr=1e-3, resume="never"))
    assert summary["resumed_from"] is None and summary["global_step"] == 1
    assert not (tmp_path / "checkpoints" / "checkpoint-2").exists()
