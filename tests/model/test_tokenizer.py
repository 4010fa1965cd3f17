from __future__ import annotations

import pytest

from tests.model.conftest import CORPUS
from vit.model import train_tokenizer

MESSAGES = [
    {"role": "user", "content": "<image>\nWhat color is the circle?"},
    {"role": "assistant", "content": "The circle is red."},
    {"role": "user", "content": "Is there a star?"},
    {"role": "assistant", "content": "No."},
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS * 5, vocab_size=400)


def test_specials_and_round_trip(tok):
    assert tok.convert_tokens_to_ids(["<pad>", "<s>", "</s>", "<image>"]) == [0, 1, 2, 3]
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert len(tok) <= 400
    text = "Ünïcode 42 <image> stays\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids.count(3) == 1 and tok.decode(ids) == text
    assert len(tok("the circle is red")["input_ids"]) < len("the circle is red")  # merges learnt


def test_chat_template_llava_style(tok):
    text = tok.apply_chat_template(MESSAGES, tokenize=False)
    assert text == (
        "<s>USER: <image>\nWhat color is the circle? ASSISTANT: The circle is red.</s>"
        "USER: Is there a star? ASSISTANT: No.</s>"
    )
    prompt = tok.apply_chat_template(MESSAGES[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "<s>USER: <image>\nWhat color is the circle? ASSISTANT:"


def test_list_content_and_system(tok):
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Shape?"}]},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == "<s>Be brief.\nUSER: <image>\nShape? ASSISTANT:"


def test_generation_markers_give_assistant_mask(tok):
    out = tok.apply_chat_template(
        MESSAGES, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tok.decode(ids) == " The circle is red.</s> No.</s>"


def test_save_and_reload(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.chat_template == tok.chat_template
    assert again("a <image> b")["input_ids"] == tok("a <image> b")["input_ids"]


def test_vocab_too_small():
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["x"], vocab_size=100)
