"""The validator and the grounded writer hold each other to account.

Every answer the grounded backend writes over thousands of scenes passes (zero false
rejections); crafted hallucinations of every claim kind are caught; plausible free-form
answers a real LLM would give are not rejected.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.synth._fixtures import request, scenes, turns
from vit.synth.backends.grounded import GroundedBackend
from vit.synth.grounding import claims_of, validate
from vit.synth.templates import TYPES, few_shots, parse_context
from vit.synth.vocab import COLORS, NUMBERS, SHAPES

N_SCENES = 2000


@pytest.fixture(scope="module")
def written() -> list[tuple[object, str, str]]:
    backend = GroundedBackend()
    recs = scenes(N_SCENES, seed=11, size=32)
    reqs = [request(r, t) for r in recs for t in TYPES]
    return [
        (q.record, q.type, resp.text) for q, resp in zip(reqs, backend.generate(reqs), strict=True)
    ]


def test_every_grounded_answer_passes_the_validator(written) -> None:
    by_type, claims, rejected = Counter(), 0, []
    for rec, kind, text in written:
        verdict = validate(turns(kind, text), rec.annotations, mode="drop")
        by_type[kind] += 1
        claims += verdict.claims
        if not verdict.keep:
            rejected.append((rec.id, kind, verdict.reasons))
    assert rejected == []
    assert by_type == {t: N_SCENES for t in TYPES}
    assert claims > 10 * N_SCENES  # the validator really checks things, it does not idle


def _template(question: str) -> str:
    """A question with its scene words (numbers, colors, shapes, sizes, regions) abstracted."""
    words = "|".join([*NUMBERS, *COLORS, *SHAPES, "small", "large", "big", "tiny"])
    q = re.sub(rf"\b(?:{words})s?\b", "_", question.lower())
    return re.sub(r"\b(?:top|bottom)-(?:left|right)\b|\b(?:an?)\b", "_", q)


def test_phrasing_varies(written) -> None:
    questions = {t: set() for t in TYPES}
    answers = Counter()
    for _, kind, text in written[: 3 * 400]:
        for q, a in turns(kind, text):
            questions[kind].add(_template(q))
            answers[_template(a)] += 1
    assert len(questions["conversation"]) >= 40
    assert len(questions["reasoning"]) >= 8
    assert len(answers) >= 200


EXISTS = re.compile(r"^(is there|do you see|can you spot|does the image contain)\b", re.I)


def test_conversations_ask_every_kind_and_existence_as_often_yes_as_no(written) -> None:
    convs = [turns(k, t) for _, k, t in written if k == "conversation"][:500]
    assert all(4 <= len(c) <= 6 for c in convs)
    first_word = [
        [a.lower().split(",")[0].split(".")[0] for q, a in c if EXISTS.match(q)] for c in convs
    ]
    assert all(words for words in first_word)  # every conversation asks whether X is there
    replies = Counter(w for words in first_word for w in words)
    assert set(replies) == {"yes", "no"}
    # a set whose existence answers are mostly "no" teaches the model to say "no"
    assert 0.4 < replies["yes"] / sum(replies.values()) < 0.6, replies
    asked = " ".join(q.lower() for c in convs for q, _ in c)
    for probe in ("how many", "what color", "where is", "to the left of", "above", "bigger"):
        assert probe in asked, probe
    assert "left or to the right" in asked and "above or below" in asked  # side choices


def test_few_shot_examples_are_grounded() -> None:
    for kind in TYPES:
        for context, answer in few_shots(kind):
            anns = parse_context(context)
            assert len(anns) >= 3
            verdict = validate(turns(kind, answer), anns)
            assert verdict.keep and verdict.claims >= 2, (kind, verdict.reasons)


# The second few-shot scene: 2 red triangles (large bottom-left, small top-middle), a small
# green diamond right of center, a large white circle top-right, a small green star top-left.
SCENE = parse_context(few_shots("conversation")[1][0])

HALLUCINATIONS = [
    ("How many shapes are there?", "There are six shapes in the image."),  # count
    ("How many triangles are there?", "Three."),  # how-many number
    ("What do you see?", "I can see three red triangles and a circle."),  # count by color+shape
    ("What color is the circle?", "The circle is blue."),  # color
    ("What is the color of the star?", "It is yellow."),  # color, from the question
    ("Tell me about the diamond.", "The diamond is large."),  # size
    ("Is there a purple star?", "Yes, there is a purple star near the top."),  # existence yes
    ("What else is there?", "A blue square sits in the center of the image."),  # non-existent
    ("Are there any circles?", "No, there are no circles in the picture."),  # false absence
    ("Where is the circle?", "The white circle is in the bottom-left part of the image."),
    ("Is the green star to the right of the white circle?", "Yes, it is."),  # relation yes/no
    ("Describe the layout.", "The white circle is to the left of the green star."),  # relation
    ("What is above what?", "The large red triangle is above the green star."),  # relation
    ("Which is nearest the corner?", "The green diamond is the closest to the top-left corner."),
    ("Which shape is the highest?", "The large red triangle is the highest."),
    ("If the red shapes were removed, how many shapes would remain?", "Four shapes would remain."),
    ("Are all the shapes small?", "Yes, all the shapes are small."),
    ("What is the most common color?", "White is the most common color."),
    ("How are they spread?", "The left half holds four shapes and the right half holds one."),
    ("Is the white circle bigger than the green diamond?", "No, it is not."),  # yes/no flips
    ("Are there more triangles than circles?", "No."),
    ("Are all the shapes the same color?", "Yes, they are."),
    ("Is the green star below the large red triangle?", "Yes."),
]


@pytest.mark.parametrize(("question", "answer"), HALLUCINATIONS)
def test_crafted_hallucinations_are_caught(question: str, answer: str) -> None:
    bad = [c for c in claims_of(question, answer, SCENE) if not c.ok]
    assert bad, (question, answer, claims_of(question, answer, SCENE))


FREE_FORM_TRUTHS = [
    ("How many shapes are there?", "I count 5 shapes in total."),
    (
        "What do you see?",
        "There are two red triangles, one large and one small, plus two green shapes.",
    ),
    ("Is there a blue circle?", "No, the only circle is white."),
    (
        "What is at the top?",
        "Along the top you can see a green star, a small red triangle and a white circle.",
    ),
    ("Where is the big triangle?", "The large red triangle sits near the bottom left."),
    ("Which shapes are green?", "The green ones are a small diamond and a small star."),
    (
        "Is the white circle bigger than the diamond?",
        "Yes, the white circle is large while the diamond is small.",
    ),
    (
        "What would be left without the triangles?",
        "Without the two triangles, three shapes would remain.",
    ),
    (
        "How many triangles are on the left?",
        "Only one triangle, the large red one, is on the left side.",
    ),
    ("Does the image have stars?", "Yes, there is one star and it is green."),
    (
        "Are there squares?",
        "I don't see any squares; the shapes are triangles, a diamond, a star and a circle.",
    ),
    (
        "Which is the biggest shape on the right?",
        "The white circle in the top-right corner is the biggest on the right.",
    ),
]


@pytest.mark.parametrize(("question", "answer"), FREE_FORM_TRUTHS)
def test_true_free_form_answers_pass(question: str, answer: str) -> None:
    found = claims_of(question, answer, SCENE)
    assert all(c.ok for c in found), [c for c in found if not c.ok]


def test_modes_drop_trim_off() -> None:
    good = ("How many triangles are there?", "There are two triangles.")
    bad = ("What color is the circle?", "The circle is blue.")
    drop = validate([good, bad], SCENE, mode="drop")
    assert not drop.keep and drop.turns == [] and drop.trimmed == 1
    assert (
        "turn 1: attribute 'the circle is blue': no such object has that attribute" in drop.reasons
    )
    assert all(r.startswith("turn 1:") for r in drop.reasons)
    trim = validate([good, bad], SCENE, mode="trim")
    assert trim.keep and trim.turns == [good] and trim.trimmed == 1
    assert not validate([bad], SCENE, mode="trim").keep  # nothing left: dropped
    off = validate([good, bad], SCENE, mode="off")
    assert off.keep and off.turns == [good, bad] and off.claims == 0
    with pytest.raises(ValueError, match="validator mode"):
        validate([good], SCENE, mode="strict")


def test_grounded_backend_is_deterministic_and_needs_annotations() -> None:
    rec = scenes(1, seed=3)[0]
    backend = GroundedBackend()
    a, b = backend.generate([request(rec, "detail"), request(rec, "detail")])
    c = backend.generate([request(rec, "detail", salt="other")])[0]
    assert a.text == b.text and json.loads(a.text)["description"]
    assert c.text != a.text or len(rec.annotations) == 1
    rec.annotations = []
    empty = backend.generate([request(rec, "conversation")])[0]
    assert empty.text is None and "annotations" in empty.error
