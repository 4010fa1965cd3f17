"""Stage 0, `vision`: the tower alone learns the boxes' dense labels; flips keep labels true."""

from __future__ import annotations

import pytest

from vit.train import TrainConfig, train
from vit.train.data import TrainData
from vit.train.freeze import module_of
from vit.train.patch_head import patch_labels
from vit.train.vision import VisionCollator, flip_patch_labels

from .conftest import small
from .test_run import NO_GRAD, changed, weights


def mirrored(ann: dict) -> dict:
    x1, y1, x2, y2 = ann["box"]
    return {**ann, "box": [1 - x2, y1, 1 - x1, y2]}


def test_flipped_labels_are_the_labels_of_the_mirrored_boxes():
    import torch

    anns = [
        {"box": [0.0, 0.1, 0.3, 0.4], "color": "red", "shape": "triangle", "size": "large"},
        {"box": [0.55, 0.6, 0.72, 0.9], "color": "blue", "shape": "star", "size": "small"},
    ]
    grid = 8
    labels = torch.tensor([patch_labels(anns, grid)])
    expected = torch.tensor([patch_labels([mirrored(a) for a in anns], grid)])
    assert not torch.equal(labels, expected)  # the scene is not symmetric
    assert torch.equal(flip_patch_labels(labels, grid), expected)


def test_the_collator_flips_images_and_labels_together(model_dir, scenes):
    import torch
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    grid = 4
    data = TrainData(scenes, "vision")
    examples = [data[i] for i in range(8)]
    marks = [ex["hflip"] for ex in examples]
    assert any(marks) and not all(marks)
    data.set_epoch(1)  # the next epoch mirrors exactly the others
    assert [data[i]["hflip"] for i in range(8)] == [not m for m in marks]
    plain = VisionCollator(processor, grid, hflip=False)(examples)
    flipped = VisionCollator(processor, grid, hflip=True)(examples)
    for i, mark in enumerate(marks):
        px, lab = plain["pixel_values"][i], plain["patch_labels"][i : i + 1]
        if mark:
            assert torch.equal(flipped["pixel_values"][i], px.flip(-1))
            assert torch.equal(flipped["patch_labels"][i : i + 1], flip_patch_labels(lab, grid))
        else:
            assert torch.equal(flipped["pixel_values"][i], px)
            assert torch.equal(flipped["patch_labels"][i : i + 1], lab)


def test_vision_data_is_every_boxed_image_without_text(scenes):
    data = TrainData(scenes, "vision", "train")
    assert len(data) == 12
    item = data[0]
    assert item["conversations"] == [] and item["image"] and item["annotations"]


def test_the_vision_stage_trains_the_tower_alone_and_evaluates(model_dir, scenes, tmp_path):
    before = weights(model_dir)
    cfg = small(stage="vision", lambda_patch=1.0, max_steps=3, eval_steps=3, save_steps=3)
    summary = train(model_dir, scenes, str(tmp_path), cfg)
    diff = changed(before, weights(tmp_path / "model"))
    expected = {k for k in before if module_of(k) == "vision" and not any(s in k for s in NO_GRAD)}
    assert diff == expected
    assert set(summary["trainable_by_module"]) == {"vision", "head"}
    assert summary["global_step"] == 3 and summary["eval_loss"] > 0  # val split, patch loss


def test_the_vision_stage_needs_the_patch_loss():
    with pytest.raises(ValueError, match="lambda_patch > 0"):
        TrainConfig(stage="vision")
    with pytest.raises(ValueError, match="no lora"):
        TrainConfig(stage="vision", lambda_patch=1.0, lora=True)
