"""Parse a generation into (question, answer) turns; the other half of distilabel's split.

Each type asks for JSON (`{"conversation": [{"question", "answer"}, ...]}`,
`{"description"}`, `{"question", "answer"}`). Extraction is tolerant: code fences, prose
before or after, LLaVA's own one-JSON-object-per-line format, a bare list. Without JSON it
falls back to LLaVA-style text (`Question: ... Answer: ...`, or `Description: ...` / plain
prose for the detail type). None, empty or garbage input gives a `Parsed` with an `error`,
never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vit.records import IMAGE_TOKEN

# The human turn of a detailed description (LLaVA samples one such instruction per image).
DETAIL_PROMPTS = (
    "Describe this image in detail.",
    "Give a detailed account of everything you see in the picture.",
    "What is in this image? Please describe it thoroughly.",
    "Walk me through the contents of this picture, one object at a time.",
    "Write a rich, detailed description of the scene shown here.",
    "Explain in detail what this image contains and where things are.",
    "Provide a careful, complete description of the picture.",
    "Tell me about this image in as much detail as you can.",
)
MAX_TURNS = 12
MAX_CHARS = 4000
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_QA = re.compile(
    r"(?:^|\n)[\s*#>-]*(?:question|q)\s*\d*[\s*]*[:：][\s*]*(?P<q>.+?)\s*(?:={3,}\s*)?"
    r"\n?[\s*#>-]*(?:answer|a)\s*\d*[\s*]*[:：][\s*]*(?P<a>.+?)"
    r"(?=\n[\s*#>-]*(?:question|q)\s*\d*[\s*]*[:：]|\Z)",
    re.S | re.I,
)
_DESCRIPTION = re.compile(r"^\s*(?:\*\*)?description(?:\*\*)?\s*[:：]\s*(?P<d>.+)$", re.S | re.I)
_SENTENCE = re.compile(r"[A-Z][^.!?{}\[\]]*[a-z][.!?](?:\s|$)")
_LIST_KEYS = ("conversation", "conversations", "qa", "turns", "questions", "dialogue")
_DETAIL_KEYS = ("description", "detail", "caption", "text", "answer")


@dataclass
class Parsed:
    turns: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def json_values(text: str) -> list[Any]:
    """Every JSON value in `text`: the whole of it, a fenced block, or objects found in prose."""
    for block in [text, *_FENCE.findall(text)]:
        try:
            return [json.loads(block)]
        except ValueError:
            pass
    dec, values, i, tries = json.JSONDecoder(), [], 0, 0
    while tries < 500:  # bounded: garbage full of braces must not cost quadratic time
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p >= 0]
        if not starts:
            break
        j, tries = min(starts), tries + 1
        try:
            value, i = dec.raw_decode(text, j)
            values.append(value)
        except ValueError:
            i = j + 1
    return values


def _clean(v: Any) -> str | None:
    if not isinstance(v, str):
        return None
    v = v.replace(IMAGE_TOKEN, "").strip()
    return v if 0 < len(v) <= MAX_CHARS else None


def _pair(d: Any) -> tuple[str, str] | None:
    if not isinstance(d, dict):
        return None
    low = {str(k).lower(): v for k, v in d.items()}
    q, a = _clean(low.get("question", low.get("q"))), _clean(low.get("answer", low.get("a")))
    return (q, a) if q and a else None


def _pairs(values: list[Any]) -> list[tuple[str, str]]:
    items: list[Any] = []
    for v in values:
        if isinstance(v, dict):
            low = {str(k).lower(): x for k, x in v.items()}
            lists = [low[k] for k in _LIST_KEYS if isinstance(low.get(k), list)]
            items += lists[0] if lists else [v]
        elif isinstance(v, list):
            items += v
    if items and all(isinstance(t, dict) and "from" in t for t in items):
        # LLaVA's own turn list: human/gpt alternating
        vals = [_clean(t.get("value")) for t in items]
        items = [{"question": q, "answer": a} for q, a in zip(vals[::2], vals[1::2], strict=False)]
    return [p for p in map(_pair, items) if p][:MAX_TURNS]


def _detail(values: list[Any], text: str) -> str | None:
    for v in values:
        if isinstance(v, str):
            return _clean(v)
        if isinstance(v, dict):
            low = {str(k).lower(): x for k, x in v.items()}
            found = [_clean(low.get(k)) for k in _DETAIL_KEYS]
            if any(found):
                return next(f for f in found if f)
    if values:
        return None
    m = _DESCRIPTION.match(text)
    if m:
        return _clean(m["d"])
    # Plain prose, as LLaVA's own detail examples are: at least two real sentences.
    return _clean(text) if len(_SENTENCE.findall(text)) >= 2 else None


def parse(kind: str, text: str | None, detail_prompt: str = DETAIL_PROMPTS[0]) -> Parsed:
    """Turns for one generation of type `kind`, or an error saying why there are none."""
    if text is None or not str(text).strip():
        return Parsed(error="empty")
    text = str(text).strip()
    values = json_values(text)
    if kind == "detail":
        d = _detail(values, text)
        return Parsed([(detail_prompt, d)]) if d else Parsed(error=_why(values, "description"))
    turns = _pairs(values) or [
        (q, a) for m in _QA.finditer(text) if (q := _clean(m["q"])) and (a := _clean(m["a"]))
    ]
    if not turns:
        return Parsed(error=_why(values, "question/answer pairs"))
    return Parsed(turns[:1] if kind == "reasoning" else turns)


def _why(values: list[Any], wanted: str) -> str:
    return f"schema: JSON without {wanted}" if values else f"unparsable: no JSON and no {wanted}"


def to_conversations(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    """LLaVA turns, `<image>\\n` before the first human turn."""
    out = []
    for i, (q, a) in enumerate(turns):
        out.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{q}" if i == 0 else q})
        out.append({"from": "gpt", "value": a})
    return out
