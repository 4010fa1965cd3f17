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


def test_every_phrasing_of_every_short_question_is_checked(scenes):
    """Each template x place phrase the writer can emit carries a claim the validator reads:
    a wrong one-word answer to any of them is caught (a phrasing it cannot parse would let
    a wrong teacher answer through)."""
    from vit.synth.backends import grounded_short as gs
    from vit.synth.vocab import SHAPES

    rng = np.random.default_rng(5)
    wrong = {"yes": "no", "no": "yes", "large": "small", "small": "large"}
    wrong |= {"left": "right", "right": "left", "above": "below", "below": "above"}
    wrong |= {s: SHAPES[(i + 1) % len(SHAPES)] for i, s in enumerate(SHAPES)}
    askers = {
        "count": (gs.count_short, gs._COUNT),
        "color": (gs.color_short, gs._COLOR),
        "shape": (gs.shape_short, gs._SHAPE),
        "size": (gs.size_short, gs._SIZE),
        "exist": (gs.exist_short, gs._EXIST),
    }
    for name, (ask, templates) in askers.items():
        seen: set[str] = set()
        for _ in range(40):
            for r in scenes:
                qa = ask(Facts(r.annotations, rng))
                if qa is None:
                    continue
                q, a = qa
                bad = str(int(a) + 1) if a.isdigit() else wrong.get(a, "purple")
                if bad == a:
                    continue
                assert validate([(q, bad)], r.annotations).reasons, (name, q, bad)
                seen.add(q)
        assert len(seen) > len(templates), name  # many of the phrasings were exercised


def _answers(scenes, focus, seed=0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [t["answer"] for r in scenes for t in short(Facts(r.annotations, rng), focus=focus)]


def test_focus_asks_the_question_types_in_its_shares(scenes):
    assert all(a.isdigit() for a in _answers(scenes, {"count": 1.0}))
    assert set(_answers(scenes, {"existence": 1.0, "count": 0.0})) == {"yes", "no"}
    both = _answers(scenes, {"count": 3.0, "existence": 1.0}, seed=1)
    share = sum(a.isdigit() for a in both) / len(both)
    assert len(both) > 400 and 0.68 < share < 0.82  # 3 : 1 asked (some draws repeat)


def test_the_types_a_focus_weighs_are_the_evaluations_and_the_default_is_the_fixed_mix():
    from vit.evaluate.questions import QTYPES
    from vit.synth.backends.grounded_short import ASKERS, BY_TYPE, DEFAULT_SHARES
    from vit.synth.config import QUESTION_TYPES

    assert tuple(BY_TYPE) == QUESTION_TYPES == tuple(t for t in QTYPES if t != "digit")
    assert set(ASKERS) == set(BY_TYPE.values())
    assert DEFAULT_SHARES["count"] == DEFAULT_SHARES["position"] == pytest.approx(2 / 9)
    assert DEFAULT_SHARES["size"] == pytest.approx(1 / 9)
    assert sum(DEFAULT_SHARES.values()) == pytest.approx(1.0)
