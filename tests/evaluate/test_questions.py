"""Probe questions on generated scenes and digits: every type, true answers, held-out wording."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np
import pytest

from vit.evaluate.questions import (
    ANSWER_FORMAT,
    COLOR_QS,
    COUNT_QS,
    DETAIL,
    DETAIL_PROMPT,
    EXIST_QS,
    QTYPES,
    SHAPE_QS,
    SIZE_QS,
    EvalItem,
    asked,
    fact_key,
    load_items,
    make_detail_set,
    make_eval_set,
    save_items,
    type_counts,
)
from vit.records import Annotation, Record
from vit.sources.digits import QUESTIONS as DIGIT_TRAIN_QUESTIONS
from vit.sources.digits import digit_record
from vit.sources.scenes import make_scene
from vit.synth.backends.grounded import OPPOSITE_WORD, Facts
from vit.synth.backends.grounded_qa import conversation
from vit.synth.backends.grounded_short import short
from vit.synth.grounding import validate
from vit.synth.parse import DETAIL_PROMPTS

# Position items ask "left or right": the validator reads the equivalent yes/no question.
AS_RELATION = {
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}


@pytest.fixture(scope="module")
def scenes() -> list[Record]:
    return [make_scene(0, i, 32)[0] for i in range(200)]


@pytest.fixture(scope="module")
def items(scenes: list[Record]) -> list[EvalItem]:
    return make_eval_set(scenes, seed=0, per_image=4)


def test_every_scene_type_and_deterministic(scenes, items):
    counts = type_counts(items)
    assert set(counts) == set(QTYPES) - {"digit"}
    assert min(counts.values()) >= 100  # balanced across types
    assert len({i.id for i in items}) == len(items)
    assert make_eval_set(scenes, seed=0, per_image=4) == items
    assert make_eval_set(scenes, seed=1, per_image=4) != items


def test_existence_balanced(items):
    answers = Counter(i.answer for i in items if i.qtype == "existence")
    assert set(answers) == {"yes", "no"}
    assert abs(answers["yes"] - answers["no"]) <= 1


def test_existence_answer_is_not_readable_from_the_question(items):
    """Naming a color must not give the answer away (a blind model would read it)."""
    from vit.synth.vocab import COLORS

    ex = [i for i in items if i.qtype == "existence"]
    colored = [i.answer == "yes" for i in ex if any(c in i.question.split() for c in COLORS)]
    plain = [i.answer == "yes" for i in ex if not any(c in i.question.split() for c in COLORS)]
    assert len(colored) >= 10 and len(plain) >= 10
    assert 0.3 <= sum(colored) / len(colored) <= 0.7
    assert 0.3 <= sum(plain) / len(plain) <= 0.7


def _annotations(scenes: list[Record]) -> dict[str, list[Annotation]]:
    return {r.id: r.annotations for r in scenes}


def _validator_turn(item: EvalItem) -> tuple[str, str]:
    """The item as a (question, answer) turn the grounding validator checks."""
    if item.qtype == "position":
        q = item.question.removeprefix("Is the ").rstrip("?")
        sep = " left or right of the " if " left or right " in q else " above or below the "
        a, b = q.split(sep)
        return f"Is the {a} {AS_RELATION[item.answer]} the {b}?", "Yes."
    if item.qtype == "count":
        return item.question, f"There are {item.answer}."
    return item.question, f"{item.answer.capitalize()}."


def test_answers_pass_the_grounding_validator(scenes, items):
    anns = _annotations(scenes)
    for item in items:
        q, a = _validator_turn(item)
        v = validate([(q, a)], anns[item.record_id])
        assert v.keep, (item, v.reasons)
        assert v.claims >= 1, f"the validator checked nothing in {q!r} -> {a!r}"


def _wrong(item: EvalItem) -> str:
    if item.qtype == "count":
        return str(int(item.answer) + 1)
    if item.qtype == "color":
        return "green" if item.answer != "green" else "red"
    if item.qtype == "shape":
        return "star" if item.answer != "star" else "circle"
    return FLIP[item.answer]


FLIP = {"yes": "no", "no": "yes", "small": "large", "large": "small"}
FLIP |= {"left": "right", "right": "left", "above": "below", "below": "above"}


def test_wrong_answers_fail_the_validator(scenes, items):
    # The converse, so the test above is not vacuous: a wrong answer is caught.
    anns = _annotations(scenes)
    for item in items:
        q, a = _validator_turn(EvalItem(**{**item.to_dict(), "answer": _wrong(item)}))
        assert not validate([(q, a)], anns[item.record_id]).keep, (item, q, a)


def test_answers_match_annotations(scenes, items):
    anns = _annotations(scenes)
    for item in items:
        objs = anns[item.record_id]
        if item.qtype == "count":
            noun = item.question.split()[2] if item.question.startswith("How") else None
            noun = noun or item.question.split(" of ")[1].split()[0]
            k = sum(noun in ("shapes", f"{o.shape}s") for o in objs)
            assert str(k) == item.answer, item
        elif item.qtype in ("color", "shape", "size"):
            assert item.answer in {getattr(o, item.qtype) for o in objs}, item


def test_eval_phrasing_is_held_out(scenes, items):
    """No eval question is a question the training writers produce."""
    train_qs = set()
    for r in scenes:
        for k in range(3):
            rng = np.random.default_rng(
                int(hashlib.sha256(f"{r.id}{k}".encode()).hexdigest()[:8], 16)
            )
            train_qs |= {t["question"] for t in conversation(Facts(r.annotations, rng))}
            short_qs = {t["question"] for t in short(Facts(r.annotations, rng))}
            train_qs |= short_qs | {q.split("\n")[0] for q in short_qs}
    train_qs |= {q for q, _ in DIGIT_TRAIN_QUESTIONS} | set(DETAIL_PROMPTS)
    assert len(train_qs) > 500
    assert not train_qs & {i.question for i in items}
    assert not train_qs & {asked(i) for i in items}  # nor the text actually put to the model
    assert DETAIL_PROMPT not in train_qs


def test_exact_match_items_are_asked_in_the_taught_short_format(scenes, items):
    """The format line appended at eval time is the one the short training rounds teach
    (not an instruction the model never saw); detail items and answer_format="" ask bare."""
    rng = np.random.default_rng(0)
    taught = {t["question"].split("\n", 1)[1] for t in short(Facts(scenes[0].annotations, rng))[:1]}
    assert taught == {ANSWER_FORMAT}
    item = items[0]
    assert asked(item) == f"{item.question}\n{ANSWER_FORMAT}"
    assert asked(item, "") == item.question
    assert asked(item, "Answer the question using a single word or phrase.").endswith("phrase.")
    detail = make_detail_set(scenes[:1])[0]
    assert detail.qtype == DETAIL and asked(detail) == DETAIL_PROMPT


def test_digits_and_skips():
    rng = np.random.default_rng(0)
    digits = [digit_record(i, i % 10, 32, 0, rng) for i in range(20)]
    no_image = Record(id="t", image=None)
    unboxed = Record(id="u", image="u.png", annotations=[Annotation(label="cat")])
    items = make_eval_set([*digits, no_image, unboxed], seed=0)
    assert [i.qtype for i in items] == ["digit"] * 20
    assert [i.answer for i in items] == [str(i % 10) for i in range(20)]
    assert {i.question for i in items}.isdisjoint(q for q, _ in DIGIT_TRAIN_QUESTIONS)


def test_detail_set(scenes):
    details = make_detail_set(scenes[:10])
    assert len(details) == 10 and all(d.qtype == "detail" and d.answer for d in details)
    for d in details:
        assert validate([(d.question, d.answer)], scenes[int(d.record_id[-6:])].annotations).keep


def test_items_round_trip(items, tmp_path):
    path = save_items(items, tmp_path / "eval" / "items.jsonl")
    assert load_items(path) == items


def test_position_balanced_per_axis(items):
    """Each axis's two answers are equally often right (within one), so a model that
    prefers one word scores chance on position, not chance plus the set's tilt."""
    answers = Counter(i.answer for i in items if i.qtype == "position")
    assert set(answers) == {"left", "right", "above", "below"}
    assert abs(answers["left"] - answers["right"]) <= 1
    assert abs(answers["above"] - answers["below"]) <= 1


def test_position_balance_changes_only_position_items(scenes, items, monkeypatch):
    """The swap draws no random numbers: against the set made without it, every other item
    is the same, and each changed position item is its pair asked the other way round."""
    from vit.evaluate import questions

    unbalanced_qa = questions.position_qa
    monkeypatch.setattr(questions, "position_qa", lambda f, balance=None: unbalanced_qa(f))
    unbalanced = make_eval_set(scenes, seed=0, per_image=4)
    assert [i.id for i in unbalanced] == [i.id for i in items]
    flipped = 0
    for old, new in zip(unbalanced, items, strict=True):
        if old.qtype != "position" or old == new:
            assert old == new
            continue
        flipped += 1
        ra, rb = _sides(old.question)
        assert _sides(new.question) == (rb, ra)
        assert new.answer == OPPOSITE_WORD[old.answer]
    assert flipped > 0


def _sides(question: str) -> tuple[str, str]:
    """(A, B) of `Is the A left or right of the B?` (or above or below)."""
    m = re.fullmatch(r"Is the (.+) (?:left or right of|above or below) the (.+)\?", question)
    assert m, question
    return m[1], m[2]


@pytest.fixture(scope="module")
def dense(scenes: list[Record]) -> list[EvalItem]:
    return make_eval_set(scenes, seed=0, per_image=20)


def test_a_denser_set_contains_the_standard_one_item_for_item(scenes, dense):
    # Past one item per type, more items come from their own random stream: the first pass
    # is exactly what a standard set asks, so a dense score contains the standard one.
    standard = make_eval_set(scenes, seed=0, per_image=6)
    assert [i for i in dense if i.id.count(":") == 1] == standard
    assert len(dense) > 2.5 * len(standard)
    assert len({i.id for i in dense}) == len(dense)
    assert make_eval_set(scenes, seed=0, per_image=20) == dense
    # At most six per scene asks nothing past the first pass.
    assert all(i.id.count(":") == 1 for i in make_eval_set(scenes, seed=0, per_image=6))


def test_a_denser_set_asks_each_fact_once_and_grounded(scenes, dense):
    anns = _annotations(scenes)
    per_scene = Counter((i.record_id, i.qtype, _fact_of(i)) for i in dense)
    assert max(per_scene.values()) == 1  # no fact counted twice, whatever its template
    assert set(type_counts(dense)) == set(QTYPES) - {"digit"}
    for item in dense:
        q, a = _validator_turn(item)
        assert validate([(q, a)], anns[item.record_id]).keep, item
    more = [i for i in dense if i.id.count(":") == 2]
    yes_no = Counter(i.answer for i in more if i.qtype == "existence")
    assert abs(yes_no["yes"] - yes_no["no"]) <= 1
    sides = Counter(i.answer for i in more if i.qtype == "position")
    assert abs(sides["left"] - sides["right"]) <= 1 and abs(sides["above"] - sides["below"]) <= 1


def test_fact_key_ignores_the_template_and_the_order_of_a_pair():
    def item(qtype: str, q: str) -> EvalItem:
        return EvalItem("s:1", "s", "s.png", qtype, q, "x")

    assert fact_key(item("count", "How many circles appear in this image?")) == fact_key(
        item("count", "What is the number of circles shown here?")
    )
    a = item("position", "Is the red circle left or right of the star?")
    assert fact_key(a) == fact_key(item("position", "Is the star left or right of the red circle?"))
    assert fact_key(a) != fact_key(item("position", "Is the red circle above or below the star?"))
    assert fact_key(item("count", "How many small stars?")) == ("count", ("small", "star"))
    # A size question's templates carry size words of their own: not part of the fact.
    assert fact_key(item("size", "Is the red star small or large?")) == fact_key(
        item("size", "How large is the red star?")
    )


def _fact_of(item: EvalItem) -> tuple:
    """What an item asks, read back through its template (independently of fact_key)."""
    if item.qtype == "position":
        q = item.question.removeprefix("Is the ").rstrip("?")
        axis = "x" if " left or right of the " in q else "y"
        a, b = q.split(" left or right of the " if axis == "x" else " above or below the ")
        return axis, frozenset((a, b))
    templates = {
        "count": COUNT_QS, "color": COLOR_QS, "shape": SHAPE_QS, "size": SIZE_QS,
        "existence": EXIST_QS,
    }[item.qtype]  # fmt: skip
    for t in templates:
        pattern = re.escape(t).replace(r"\{p\}", "(.+)").replace(r"\{r\}", "(.+)")
        pattern = pattern.replace(r"\{a\}", "an?").replace(r"\{d\}", "(.+)")
        if m := re.fullmatch(pattern, item.question):
            return (m.group(1),)
    raise AssertionError(f"no template gives {item.question!r}")
