"""The dense grounding loss: patch labels from boxes, the head learns, the export is clean."""

from __future__ import annotations

import json

import pytest

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


def test_position_labels_are_each_patchs_row_and_column_on_labelled_images():
    import torch

    from vit.train.patch_head import position_labels

    labels = torch.full((2, 4, 3), IGNORE)
    labels[0, 3] = torch.tensor([0, 0, 0])  # image 0: one labelled patch (background)
    pos = position_labels(labels)
    assert pos[0].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]  # G = 2, row-major
    assert (pos[1] == IGNORE).all()  # image 1 has no boxes: nothing to learn from


def test_a_position_head_adds_row_and_column_terms():
    """The wider head's loss is the mean of five cross-entropies: the three attributes,
    then each patch's row and column; a plain head's is the mean of three."""
    import torch
    import torch.nn.functional as F

    from vit.train.patch_head import N_CLASSES, patch_loss

    torch.manual_seed(0)
    grid, hidden = 2, 6
    feats = torch.randn(1, grid * grid, hidden)
    labels = torch.tensor([[[1, 2, 1], [0, 0, 0], [0, 0, 0], [3, 1, 2]]])
    plain = torch.nn.Linear(hidden, sum(N_CLASSES))
    wide = torch.nn.Linear(hidden, sum(N_CLASSES) + 2 * grid)
    with torch.no_grad():
        wide.weight[: sum(N_CLASSES)] = plain.weight
        wide.bias[: sum(N_CLASSES)] = plain.bias
    with torch.no_grad():
        logits = wide(feats)[0]
    targets = [labels[0, :, k] for k in range(3)] + [torch.tensor([0, 0, 1, 1])]
    targets += [torch.tensor([0, 1, 0, 1])]
    sizes, start, terms = [*N_CLASSES, grid, grid], 0, []
    for n, t in zip(sizes, targets, strict=True):
        terms.append(F.cross_entropy(logits[:, start : start + n], t))
        start += n
    with torch.no_grad():
        assert float(patch_loss(wide, feats, labels)) == pytest.approx(float(sum(terms) / 5))
        assert float(patch_loss(plain, feats, labels)) == pytest.approx(float(sum(terms[:3]) / 3))


def test_patch_position_trains_a_wider_head_and_the_export_drops_it(model_dir, scenes, tmp_path):
    from transformers import AutoModelForImageTextToText, TrainerCallback

    from vit.train.patch_head import N_CLASSES

    class Width(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            self.out = getattr(model, PATCH_HEAD).out_features
            vision = model.config.vision_config
            self.grid = vision.image_size // vision.patch_size

    width = Width()
    cfg = small(max_steps=2, lambda_patch=1.0, patch_position=True)
    train(model_dir, scenes, str(tmp_path / "pos"), cfg, callbacks=[width])
    assert width.out == sum(N_CLASSES) + 2 * width.grid
    exported = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "pos" / "model"))
    assert not any(PATCH_HEAD in k for k in exported.state_dict())


def test_a_field_newer_than_the_checkpoint_reads_as_its_default(tmp_path):
    """A checkpoint written before `patch_position` existed resumes under the default, and
    is refused when the run now asks for the position head."""
    from vit.train import TrainConfig
    from vit.train.resume import TRAIN_CONFIG_FILE, config_changes

    saved = json.loads(json.dumps(TrainConfig().to_dict()))
    del saved["patch_position"]
    (tmp_path / TRAIN_CONFIG_FILE).write_text(json.dumps(saved))
    assert config_changes(tmp_path, TrainConfig()) == []
    assert config_changes(tmp_path, TrainConfig(patch_position=True)) == ["patch_position"]
