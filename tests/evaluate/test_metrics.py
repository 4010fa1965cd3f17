"""The exact-match rule, accuracy per type, the majority baseline and ROUGE-L on hand-made cases."""

from __future__ import annotations

import pytest

from vit.evaluate.metrics import (
    _rouge_l_local,
    accuracy_by_crowding,
    accuracy_by_type,
    attribute_errors,
    crowding_band,
    exact_match,
    majority_answers,
    majority_baseline,
    normalize_answer,
    rouge_l,
)
from vit.evaluate.questions import EvalItem


def item(qtype: str, answer: str, i: int = 0) -> EvalItem:
    return EvalItem(f"r{i}:{qtype}", f"r{i}", f"images/r{i}.png", qtype, "?", answer)


@pytest.mark.parametrize(
    ("text", "qtype", "want"),
    [
        ("yes.", None, "yes"),
        ("Yes, there is", None, "yes"),
        ("Nope!", None, "no"),
        ("The Red  Circle.", None, "red circle"),
        ("I don't know", None, "i dont know"),
        ("Two", None, "2"),
        ("The digit is 7.", "digit", "7"),
        ("seven", "digit", "7"),
        ("The digit is 7.", None, "digit is 7"),
        ("There are two red circles.", "count", "2"),
        ("There are no red circles in the image.", "count", "0"),
        ("None.", "count", "0"),
        ("3", "count", "3"),
        ("It is red", "color", "red"),
        ("It's red.", "color", "red"),
        ("The red object is a circle.", "shape", "circle"),
        ("circles", "shape", "circle"),
        ("It is big.", "size", "large"),
        ("It's tiny.", "size", "small"),
        ("Yes, there is a green triangle.", "existence", "yes"),
        ("No, I don't see any green triangles.", "existence", "no"),
        ("There is no green triangle.", "existence", "no"),
        ("The red circle is to the left of the blue square.", "position", "left"),
        ("It is beneath it", "position", "below"),
        # hedging: several candidate answers is no extraction, only the literal text
        ("left or right", "position", "left or right"),
        ("red and blue", "color", "red and blue"),
        ("Two red circles and one blue circle.", "count", "2 red circles and 1 blue circle"),
    ],
)
def test_normalize_answer(text: str, qtype: str | None, want: str):
    assert normalize_answer(text, qtype) == want


def test_exact_match():
    assert exact_match("The digit is 7.", "7", "digit")
    assert exact_match("three", "3", "count")
    assert exact_match("It is red", "red", "color")
    assert not exact_match("It is red or blue", "red", "color")
    assert not exact_match("The digit is 1.", "7", "digit")
    assert not exact_match("Yes", "no", "existence")
    assert exact_match("Yes, there is", "yes")


def test_accuracy_by_type_list_and_dict():
    items = [item("count", "2", 0), item("count", "1", 1), item("color", "red", 2)]
    preds = ["two", "2", "It is red."]
    acc = accuracy_by_type(items, preds)
    assert acc["count"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert acc["color"] == {"n": 1, "correct": 1, "accuracy": 1.0}
    assert acc["overall"] == {"n": 3, "correct": 2, "accuracy": 0.6667, "macro_accuracy": 0.75}
    assert accuracy_by_type(items, {i.id: p for i, p in zip(items, preds, strict=True)}) == acc
    with pytest.raises(ValueError):
        accuracy_by_type(items, preds[:2])


def test_crowding_bands_and_accuracy_by_crowding():
    assert [crowding_band(n) for n in (1, 2, 3, 4, 6, 7, 12)] == [
        "1", "2-3", "2-3", "4-6", "4-6", "7+", "7+"
    ]  # fmt: skip
    items = [
        item("color", "red", 0),  # r0: 1 object
        item("count", "2", 1),  # r1: 3 objects
        item("shape", "star", 1),
        item("count", "8", 2),  # r2: 8 objects
        item("detail", "A long text.", 2),  # no exact answer: left out
        item("digit", "7", 3),  # r3: no boxed objects (a digit): left out
    ]
    preds = ["red", "two", "circle", "8", "A long text.", "7"]
    acc = accuracy_by_crowding(items, preds, {"r0": 1, "r1": 3, "r2": 8, "r3": 0})
    assert list(acc) == ["1", "2-3", "7+"]  # bands in order, empty ones left out
    assert acc["1"] == {"n": 1, "correct": 1, "accuracy": 1.0}
    assert acc["2-3"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert acc["7+"] == {"n": 1, "correct": 1, "accuracy": 1.0}


def test_attribute_errors_tell_binding_from_perception():
    scenes = {  # r0, r1: two objects each; r2 has one object and is not in the map
        "r0": {"color": {"red", "blue"}, "shape": {"star", "circle"}},
        "r1": {"color": {"green", "red"}, "shape": {"square", "circle"}},
    }
    items = [
        item("color", "red", 0),  # right
        item("color", "red", 1),  # "green": another object's color -> binding
        item("color", "blue", 0),  # "yellow": no object is yellow -> absent
        item("shape", "star", 0),  # "a circle": the other object's shape
        item("shape", "square", 1),  # right
        item("color", "red", 2),  # one-object scene: left out
        item("count", "2", 0),  # not an attribute question: left out
    ]
    preds = ["Red.", "green", "It is yellow.", "a circle", "square", "blue", "3"]
    got = attribute_errors(items, preds, scenes)
    assert got["color"] == {
        "n": 3, "right": 1, "other_object": 1, "absent": 1, "other_object_share": 0.5
    }  # fmt: skip
    assert got["shape"] == {
        "n": 2, "right": 1, "other_object": 1, "absent": 0, "other_object_share": 1.0
    }  # fmt: skip
    assert attribute_errors(items, preds, {}) == {}


def test_majority_baseline_uses_train_only():
    # Train: count is mostly "1", existence mostly "yes"; test is the opposite.
    train = [("count", "1")] * 5 + [("count", "two")] * 3 + [("existence", "Yes.")] * 4
    train += [("existence", "no")] * 3
    test = [item("count", "2", i) for i in range(3)] + [item("count", "1", 3)]
    test += [item("existence", "no", 4), item("existence", "yes", 5), item("color", "red", 6)]
    maj = majority_answers(train)
    assert maj == {"count": "1", "existence": "yes", "*": "1"}
    base = majority_baseline(train, test)
    assert base["count"] == {"n": 4, "correct": 1, "accuracy": 0.25}
    assert base["existence"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert base["color"]["correct"] == 0  # never asked in train: the overall majority, wrong
    assert base["overall"]["correct"] == 2
    # EvalItems work as training input too, and ties break alphabetically
    assert majority_answers([item("size", "small"), item("size", "large")])["size"] == "large"


def test_rouge_l():
    assert _rouge_l_local("a red circle", "a red circle") == 1.0
    assert _rouge_l_local("", "a red circle") == 0.0
    # LCS "red circle" (2 of 3 each side): P = R = 2/3
    assert _rouge_l_local("one red circle", "a red circle") == pytest.approx(2 / 3)
    r = rouge_l(["one red circle", "a blue star"], ["a red circle", "a blue star"])
    assert r["n"] == 2 and r["rouge_l"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    with pytest.raises(ValueError):
        rouge_l(["x"], [])
