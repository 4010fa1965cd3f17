from __future__ import annotations

import pytest

from tests.model.conftest import CORPUS, tiny_config
from vit.model import build_model, load_model
from vit.model.build import saved_model_config

torch = pytest.importorskip("torch")


def prompt_inputs(processor, color="red"):
    from PIL import Image

    msgs = [{"role": "user", "content": "<image>\nWhat color is the circle?"}]
    text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    image = Image.new("RGB", (40, 32), color)
    return processor(text=text, images=image, return_tensors="pt", add_special_tokens=False)


def test_saved_as_a_standard_checkpoint(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= names
    assert saved_model_config(tiny_dir) == tiny_config()
    assert saved_model_config(tiny_dir.parent) is None


def test_auto_classes_load_by_path(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    assert type(processor).__name__ == "LlavaProcessor"
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    cfg = model.config
    assert cfg.image_token_id == processor.tokenizer.convert_tokens_to_ids("<image>")
    assert cfg.vision_config.image_size == 32 and cfg.text_config.hidden_size == 48
    assert cfg.text_config.vocab_size == len(processor.tokenizer)


def test_forward_and_generate(tiny):
    model, processor = tiny
    inputs = prompt_inputs(processor)
    n_img = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_img == (32 // 8) ** 2 and inputs["pixel_values"].shape == (1, 3, 32, 32)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (*inputs["input_ids"].shape, len(processor.tokenizer))
    assert torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_image_changes_the_output(tiny):
    model, processor = tiny
    with torch.no_grad():
        red = model(**prompt_inputs(processor, "red")).logits[0, -1]
        blue = model(**prompt_inputs(processor, "blue")).logits[0, -1]
    assert not torch.allclose(red, blue)


def test_seeded_init(tmp_path):
    cfg = tiny_config(text_layers=1, vision_layers=1)
    a = build_model(cfg, CORPUS, tmp_path / "a")
    b = build_model(cfg, CORPUS, tmp_path / "b")
    c = build_model(tiny_config(text_layers=1, vision_layers=1, seed=1), CORPUS, tmp_path / "c")
    (ma, _), (mb, _), (mc, _) = (load_model(str(p), device="cpu") for p in (a, b, c))
    sa, sb, sc = ma.state_dict(), mb.state_dict(), mc.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_dtype_argument(tiny_dir):
    model, _ = load_model(tiny_dir, device="cpu", dtype="bf16")
    assert model.dtype == torch.bfloat16
