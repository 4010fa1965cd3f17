"""The joint objective: the image term is in the loss, and its gradient reaches the head."""

from __future__ import annotations

import json

from vit.train import train
from vit.train.joint import attach_head, find_head, image_loss, image_token_id

from .conftest import small


def batch_and_model(model_dir, scenes):
    from vit.model import VLMCollator, load_model
    from vit.train.data import TrainData

    model, processor = load_model(model_dir, device="cpu", dtype="float32")
    ds = TrainData(scenes, "align", "train")
    batch = VLMCollator(processor, 128)([ds[i] for i in range(4)])
    return model, batch


def test_image_loss_gradient_reaches_head_and_model(model_dir, scenes):
    model, batch = batch_and_model(model_dir, scenes)
    head = attach_head(model, 8)
    out = model(**batch, output_hidden_states=True)
    loss = image_loss(
        find_head(model),
        out.hidden_states[-1],
        batch["input_ids"],
        batch["pixel_values"],
        image_token_id(model.config),
        8,
    )
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert model.model.multi_modal_projector.linear_1.weight.grad.abs().sum() > 0


def first_loss(out) -> float:
    history = json.loads((out / "history.json").read_text())
    return next(h["loss"] for h in history if "loss" in h)


def head_tracker():
    from transformers import TrainerCallback

    class Track(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            self.before = [p.detach().clone() for p in find_head(model).parameters()]

        def on_train_end(self, args, state, control, model=None, **kw):
            self.after = [p.detach().clone() for p in find_head(model).parameters()]

    return Track()


def test_joint_term_adds_to_the_loss_and_trains_the_head(model_dir, scenes, tmp_path):
    import torch

    base = small(max_steps=2)
    train(model_dir, scenes, str(tmp_path / "text"), base)
    track = head_tracker()
    cfg = small(max_steps=2, lambda_img=1.0)
    summary = train(model_dir, scenes, str(tmp_path / "joint"), cfg, callbacks=[track])
    # Same seed and data: the first step's text loss is identical, the image MSE is extra.
    assert first_loss(tmp_path / "joint") > first_loss(tmp_path / "text") + 1e-3
    assert "head" in summary["trainable_by_module"]
    assert any(not torch.equal(a, b) for a, b in zip(track.before, track.after, strict=True))
    from transformers import AutoModelForImageTextToText

    exported = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "joint" / "model"))
    assert not any("vitflow_image_head" in k for k in exported.state_dict())


def test_joint_term_with_lora(model_dir, scenes, tmp_path):
    cfg = small(max_steps=2, lambda_img=0.5, lora=True, lora_r=4, stage="instruct")
    summary = train(model_dir, scenes, str(tmp_path), cfg)
    assert summary["global_step"] == 2 and "head" in summary["trainable_by_module"]
