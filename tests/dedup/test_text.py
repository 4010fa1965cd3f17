"""Instruction text: exchanges, repeats within a record, joint image + text pairs."""

from __future__ import annotations

import re

import numpy as np

from vit.dedup.groups import Pairs
from vit.dedup.text import (
    drop_exchanges,
    embed_unique,
    exchanges,
    joint_pairs,
    repeated_exchanges,
    within_record_drops,
)


def bow(texts: list[str]) -> np.ndarray:
    """A bag-of-words embedder: enough to tell equal, near-equal and different texts apart."""
    vocab: dict[str, int] = {}
    rows = [[vocab.setdefault(w, len(vocab)) for w in re.findall(r"\w+", t.lower())] for t in texts]
    x = np.zeros((len(texts), 4096), dtype=np.float32)
    for k, ws in enumerate(rows):
        np.add.at(x[k], ws, 1.0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


CONV = [
    {"from": "human", "value": "<image>\nWhat is in the image?"},
    {"from": "gpt", "value": "A red circle."},
    {"from": "human", "value": "How many shapes?"},
    {"from": "gpt", "value": "One."},
    {"from": "human", "value": "what is in the  image?"},
    {"from": "gpt", "value": "A red circle."},
]


def test_exchanges_strip_the_image_token_and_pair_turns():
    assert exchanges(CONV) == [
        "What is in the image?\nA red circle.",
        "How many shapes?\nOne.",
        "what is in the image?\nA red circle.",
    ]


def test_a_repeated_exchange_is_dropped_and_the_first_never_is():
    x = bow(exchanges(CONV))
    drops = repeated_exchanges(x, 0.05)
    assert [(a, b) for a, b, _ in drops] == [(2, 0)]
    kept = drop_exchanges(CONV, [a for a, _, _ in drops])
    assert kept == CONV[:4] and kept[0]["value"].startswith("<image>")


def test_within_record_drops_keeps_the_removed_text():
    per = [exchanges(CONV), ["only one\nanswer"]]
    out = within_record_drops(["r1", "r2"], per, bow, 0.05)
    assert list(out) == ["r1"]
    assert out["r1"][0]["index"] == 2 and out["r1"][0]["text"].startswith("what is in")


def test_embed_unique_embeds_each_distinct_text_once():
    calls: list[int] = []

    def embed(texts):
        calls.append(len(texts))
        return bow(texts)

    x = embed_unique(["a b", "c d", "a b", "a b"], embed)
    assert calls == [2] and np.allclose(x[0], x[2]) and not np.allclose(x[0], x[1])


def test_joint_needs_both_image_and_text():
    text = bow(["same question same answer", "same question same answer", "something else"])
    image = Pairs([0, 0, 1], [1, 2, 2], [0.93, 0.97, 0.95])
    p = joint_pairs(image, text, 0.05)
    assert list(zip(p.i.tolist(), p.j.tolist(), strict=True)) == [(0, 1)]
    assert p.sim.tolist() == [np.float32(0.93)]
