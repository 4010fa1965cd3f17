"""The `short` instruction type: one-word answers that are true and checkable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vit.sources.scenes import make_scene
from vit.synth.backends.grounded import Facts, write
from vit.synth.backends.grounded_short import SHORT_PROMPT, short
from vit.synth.grounding import validate
from vit.synth.parse import parse


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(3, i, 128)[0] for i in range(60)]


def test_short_rounds_are_one_word_true_and_prompted(scenes):
    rng = np.random.default_rng(0)
    n = 0
    for r in scenes:
        rounds = short(Facts(r.annotations, rng))
        assert 6 <= len(rounds) <= 10 or len(r.annotations) == 1
        assert rounds[0]["question"].endswith(SHORT_PROMPT)
        assert all(len(t["answer"].split()) == 1 for t in rounds)
        turns = [(t["question"], t["answer"]) for t in rounds]
        assert not validate(turns, r.annotations, mode="drop").reasons
        n += len(rounds)
    assert n > 300


def test_validator_catches_a_wrong_short_count(scenes):
    rng = np.random.default_rng(1)
    caught = total = 0
    for r in scenes:
        for t in short(Facts(r.annotations, rng)):
            if t["answer"].isdigit():
                wrong = str(int(t["answer"]) + 1)
                total += 1
                caught += bool(validate([(t["question"], wrong)], r.annotations).reasons)
    assert total > 20 and caught == total


def test_short_json_parses_as_turns(scenes):
    rng = np.random.default_rng(2)
    text = write("short", Facts(scenes[0].annotations, rng))
    parsed = parse("short", text)
    assert parsed.turns and parsed.turns == [
        (t["question"], t["answer"]) for t in json.loads(text)["conversation"]
    ]


def test_validator_catches_a_wrong_side_or_color(scenes):
    """The choice answers an LLM could get wrong: left/right/above/below and named colors."""
    flip = {"left": "right", "right": "left", "above": "below", "below": "above"}
    flip |= {"red": "blue", "blue": "red", "green": "yellow", "yellow": "green"}
    rng = np.random.default_rng(4)
    caught = total = 0
    for r in scenes:
        for t in short(Facts(r.annotations, rng)):
            if t["answer"] in flip:
                total += 1
                wrong = flip[t["answer"]]
                caught += bool(validate([(t["question"], wrong)], r.annotations).reasons)
    assert total > 30 and caught == total
