"""Prompt templates: the LLaVA layout, the context format, and per-type content hashes."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.synth._fixtures import scenes
from vit.synth import templates
from vit.synth.templates import TYPES, context, few_shots, render, template_hash


def test_render_is_system_then_few_shots_then_context() -> None:
    rec = scenes(1, seed=2)[0]
    for kind in TYPES:
        msgs = render(kind, rec)
        assert msgs[0]["role"] == "system" and "JSON" in msgs[0]["content"]
        roles = [m["role"] for m in msgs[1:]]
        assert roles == ["user", "assistant"] * len(few_shots(kind)) + ["user"]
        assert msgs[-1]["content"] == context(rec)
        for answer in msgs[2:-1:2]:
            json.loads(answer["content"])  # few-shot answers are the JSON we ask for


def test_context_is_captions_then_labelled_boxes() -> None:
    rec = scenes(1, seed=2)[0]
    caps, boxes = context(rec).split("\n\n")
    assert caps.splitlines() == rec.captions
    a = rec.annotations[0]
    x1, y1, x2, y2 = a.box
    assert boxes.splitlines()[0] == (
        f"{a.color} {a.shape} ({a.size}): [{x1:.3f}, {y1:.3f}, {x2:.3f}, {y2:.3f}]"
    )
    assert [p.box for p in templates.parse_context(context(rec))] == [
        [round(v, 3) for v in b.box] for b in rec.annotations
    ]


def test_hash_changes_only_for_the_edited_type(tmp_path, monkeypatch) -> None:
    templates._load.cache_clear()
    before = {t: template_hash(t) for t in TYPES}
    assert len(set(before.values())) == len(TYPES) and all(len(h) == 64 for h in before.values())
    copy = tmp_path / "templates"
    shutil.copytree(templates.TEMPLATE_DIR, copy)
    monkeypatch.setattr(templates, "TEMPLATE_DIR", copy)
    templates._load.cache_clear()
    try:
        assert {t: template_hash(t) for t in TYPES} == before  # content, not location
        path = copy / "detail.system.txt"
        path.write_text(path.read_text() + "\nBe brief.")
        templates._load.cache_clear()
        after = {t: template_hash(t) for t in TYPES}
        assert after["detail"] != before["detail"]
        assert {t: after[t] for t in ("conversation", "reasoning")} == {
            t: before[t] for t in ("conversation", "reasoning")
        }
    finally:
        monkeypatch.undo()
        templates._load.cache_clear()


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown instruction type"):
        template_hash("caption")


def test_a_focus_is_asked_for_in_the_short_prompt_only() -> None:
    rec = scenes(1, seed=2)[0]
    focus = {"count": 3.0, "shape": 1.0, "size": 0.0}
    line = "Share of the questions by kind: count 75%, shape 25%."
    assert render("short", rec, focus)[-1]["content"] == context(rec) + "\n\n" + line
    assert render("short", rec, {}) == render("short", rec)  # no focus: the same prompt
    assert render("detail", rec, focus) == render("detail", rec)
