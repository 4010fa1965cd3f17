"""The dense grounding loss: patch labels from boxes, the head learns, the export is clean."""

from __future__ import annotations

import json

from vit.sources.scenes import COLORS, SHAPES
from vit.train import train
from vit.train.patch_head import IGNORE, PATCH_HEAD, patch_labels

from .conftest import small


def test_patch_labels_follow_the_boxes():
    anns = [
        {"box": [0.0, 0.0, 0.5, 0.5], "color": "red", "shape": "circle", "size": "large"},
        # drawn later, on top of the first where they overlap (patch (1, 1))
        {"box": [0.3, 0.3, 0.7, 0.7], "color": "blue", "shape": "star", "size": "small"},
    ]
    labels = patch_labels(anns, 4)
    assert len(labels) == 16
    red_circle = [list(COLORS).index("red") + 1, list(SHAPES).index("circle") + 1, 2]
    assert labels[0] == labels[1] == labels[4] == red_circle
    assert labels[5] == [
        list(COLORS).index("blue") + 1,
        list(SHAPES).index("star") + 1,
        1,
    ]  # on top
    assert labels[15] == [0, 0, 0]  # background
    assert patch_labels([], 4) == [[IGNORE] * 3] * 16  # no boxes: nothing to learn from


def test_patch_loss_adds_to_the_loss_and_the_export_drops_the_head(model_dir, scenes, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, TrainerCallback

    class Track(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            self.head = getattr(model, PATCH_HEAD)
            self.before = [p.detach().clone() for p in self.head.parameters()]

    def first_loss(out):
        history = json.loads((out / "history.json").read_text())
        return next(h["loss"] for h in history if "loss" in h)

    train(model_dir, scenes, str(tmp_path / "text"), small(max_steps=2))
    track = Track()
    cfg = small(max_steps=2, lambda_patch=1.0)
    summary = train(model_dir, scenes, str(tmp_path / "patch"), cfg, callbacks=[track])
    # Same seed and data: the text loss of step 1 is identical; the grounding CE is extra.
    assert first_loss(tmp_path / "patch") > first_loss(tmp_path / "text") + 0.1
    assert "head" in summary["trainable_by_module"]
    after = list(track.head.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(track.before, after, strict=True))
    exported = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "patch" / "model"))
    assert not any(PATCH_HEAD in k for k in exported.state_dict())
