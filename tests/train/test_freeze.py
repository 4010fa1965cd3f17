from __future__ import annotations

import pytest

from vit.train.freeze import apply_freeze, is_from_scratch, module_of, param_groups

from .conftest import small


@pytest.fixture
def model(model_dir):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(model_dir)


def learning(model) -> set[str]:
    return {module_of(n) for n, p in model.named_parameters() if p.requires_grad}


def test_scratch_detected_from_vitflow_marker(model_dir, tmp_path):
    assert is_from_scratch(model_dir, small())
    assert not is_from_scratch(tmp_path, small())
    assert not is_from_scratch(model_dir, small(from_scratch=False))


@pytest.mark.parametrize(
    ("stage", "scratch", "expected"),
    [
        ("align", True, {"vision", "projector", "lm"}),
        ("instruct", True, {"vision", "projector", "lm"}),
        ("align", False, {"projector"}),
        ("instruct", False, {"projector", "lm"}),
    ],
)
def test_auto_freezing_follows_llava(model, stage, scratch, expected):
    apply_freeze(model, small(stage=stage), scratch)
    assert learning(model) == expected


def test_explicit_freeze_list(model):
    counts = apply_freeze(model, small(freeze=["vision", "lm"]), True)
    assert learning(model) == {"projector"} and set(counts) == {"projector"}
    with pytest.raises(ValueError, match="nothing would learn"):
        apply_freeze(model, small(freeze=["vision", "projector", "lm"]), True)


def test_freeze_top_n_trains_only_the_top_layers(model):
    apply_freeze(model, small(freeze=["vision"], freeze_top_n=1), True)
    on = {n for n, p in model.named_parameters() if p.requires_grad and module_of(n) == "lm"}
    assert any(".layers.1." in n for n in on) and not any(".layers.0." in n for n in on)
    assert not any("embed_tokens" in n for n in on) and any("lm_head" in n for n in on)


def test_param_groups_have_per_module_lrs(model):
    cfg = small(lr=1e-3, vision_lr=1e-5, projector_lr=1e-2, weight_decay=0.1)
    apply_freeze(model, cfg, True)
    decay = {n for n, _ in model.named_parameters() if n.endswith("weight") and "norm" not in n}
    groups = param_groups(model, cfg, decay)
    lrs = {(g["name"], g["weight_decay"]): g["lr"] for g in groups}
    assert lrs[("vision", 0.1)] == 1e-5 and lrs[("projector", 0.1)] == 1e-2
    assert lrs[("lm", 0.1)] == 1e-3 and lrs[("lm", 0.0)] == 1e-3
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == n_trainable
