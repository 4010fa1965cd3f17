"""`answerer` runs greedy generation through the same chat template the collator trains on."""

from __future__ import annotations

from PIL import Image

from tests._tiny import tiny_config
from vit.model import build_model
from vit.model.answer import answerer, chat


def test_answer_and_chat_on_a_tiny_model(tmp_path):
    cfg = tiny_config()
    path = build_model(
        cfg, ["How many circles are there? Two.", "A red square."] * 20, tmp_path / "m"
    )
    img = tmp_path / "x.png"
    Image.new("RGB", (40, 40), "red").save(img)
    text = chat(path, img, "How many circles are there?", max_new_tokens=5)
    assert isinstance(text, str)  # random weights: any text, but the whole path runs

    from vit.model import load_model

    model, proc = load_model(str(path))
    ask = answerer(model, proc, max_new_tokens=5)
    assert ask(Image.open(img), "What color?") == ask(Image.open(img), "What color?")  # greedy
