"""Parsing survives whatever a model sends: JSON in any wrapping, LLaVA text, or garbage."""

from __future__ import annotations

import json

import pytest

from vit.synth.parse import DETAIL_PROMPTS, parse, to_conversations

QA = [("How many circles are there?", "There are two circles."), ("Is it red?", "Yes.")]
CONV = json.dumps({"conversation": [{"question": q, "answer": a} for q, a in QA]})


@pytest.mark.parametrize(
    "text",
    [
        CONV,
        f"```json\n{CONV}\n```",
        f"Sure! Here is the conversation you asked for:\n{CONV}\nLet me know if you need more.",
        "\n".join(json.dumps({"question": q, "answer": a}) for q, a in QA),  # LLaVA's format
        json.dumps([{"Question": q, "Answer": a} for q, a in QA]),  # a bare list, any case
        json.dumps([{"from": f, "value": v} for q, a in QA for f, v in (("human", q), ("gpt", a))]),
        "Question: How many circles are there?\nAnswer: There are two circles.\n"
        "Question: Is it red?\nAnswer: Yes.",
        "**Q1:** How many circles are there?\n**A1:** There are two circles.\n\n"
        "**Q2:** Is it red?\n**A2:** Yes.",
    ],
)
def test_conversation_formats(text: str) -> None:
    parsed = parse("conversation", text)
    assert parsed.ok and parsed.turns == QA


def test_reasoning_takes_llava_question_answer_text_and_json() -> None:
    llava = (
        "Question:\nWhy is the red circle alone?\n===\nAnswer:\nBecause it is the only red shape."
    )
    parsed = parse("reasoning", llava)
    assert parsed.turns == [("Why is the red circle alone?", "Because it is the only red shape.")]
    both = parse("reasoning", CONV)  # a conversation where one pair was asked: keep the first
    assert both.turns == QA[:1]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"description": "Two red circles sit on the left."}),
        'Here you go: {"description": "Two red circles sit on the left."} Enjoy!',
        "Description: Two red circles sit on the left.",
        json.dumps("Two red circles sit on the left."),
    ],
)
def test_detail_formats(text: str) -> None:
    parsed = parse("detail", text, detail_prompt=DETAIL_PROMPTS[2])
    assert parsed.turns == [(DETAIL_PROMPTS[2], "Two red circles sit on the left.")]


def test_detail_plain_prose_needs_real_sentences() -> None:
    prose = "The image shows three shapes. A red circle is on the left. A star is above it."
    assert parse("detail", prose).turns[0][1] == prose
    assert not parse("detail", "circle red the star left above of is").ok


@pytest.mark.parametrize(
    ("kind", "text", "error"),
    [
        ("conversation", None, "empty"),
        ("detail", "   ", "empty"),
        ("conversation", "the of red star ] [ {{ circle answer question", "unparsable"),
        ("conversation", "the red } { } star", "schema"),
        ("reasoning", '{"question": "Why?"}', "schema"),
        ("detail", '{"conversation": []}', "schema"),
        ("conversation", '{"conversation": [{"question": "", "answer": "x"}]}', "schema"),
        ("conversation", "{" * 5000 + "x", "unparsable"),
    ],
)
def test_garbage_is_a_recorded_failure_not_an_exception(kind, text, error) -> None:
    parsed = parse(kind, text)
    assert not parsed.ok and parsed.error.startswith(error) and parsed.turns == []


def test_llava_turns_put_the_image_token_first_only() -> None:
    assert to_conversations(QA) == [
        {"from": "human", "value": "<image>\nHow many circles are there?"},
        {"from": "gpt", "value": "There are two circles."},
        {"from": "human", "value": "Is it red?"},
        {"from": "gpt", "value": "Yes."},
    ]
    # a model that writes its own <image> token does not get a second one
    parsed = parse("reasoning", json.dumps({"question": "<image>\nWhy?", "answer": "So."}))
    assert to_conversations(parsed.turns)[0]["value"] == "<image>\nWhy?"
