"""The offline default backend: writes all three instruction types from the annotations.

It answers the same request an LLM gets (and in the JSON schema the LLM is asked for), but
reads the record's annotations instead of the prompt, so every statement is true by
construction: counts, colors, sizes, existence (with "no" answers), regions, strict
left/right/above/below relations, superlatives and what remains after a removal. Phrasing
is drawn from many templates by an RNG seeded from the request's cache key, so the same
request always gives the same text. It is also the reference the validator is tested on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import numpy as np

from vit.records import Annotation
from vit.synth.backends.base import Backend, OnResult, Request, Response, deliver
from vit.synth.vocab import (
    RELATIONS,
    count_phrase,
    join_words,
    matches,
    noun_of,
    noun_phrase,
    region,
    relation_holds,
)

OPPOSITE = dict(
    zip(RELATIONS, ("to the right of", "to the left of", "below", "above"), strict=True)
)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class Facts:
    """A scene's objects plus the phrase builders every writer needs, and a seeded RNG."""

    def __init__(self, anns: list[Annotation], rng: np.random.Generator) -> None:
        self.anns = [a for a in anns if a.box is not None]
        self.rng = rng

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def count(self, mods=(), noun: str = "shape") -> int:
        return sum(matches(a, list(mods), noun) for a in self.anns)

    def ref(self, a: Annotation, without: tuple[str, ...] = ()) -> str | None:
        """The shortest description (`star`, `red circle`, `large red circle`) naming only `a`."""
        for names in ((), ("color",), ("size",), ("size", "color")):
            mods = [getattr(a, n) for n in names]
            if any(n in without for n in names) or None in mods:
                continue
            if self.count(mods, noun_of(a)) == 1:
                return " ".join([*mods, noun_of(a)])
        return None

    def np(self, a: Annotation) -> str:
        return noun_phrase(1, [w for w in (a.size, a.color) if w], noun_of(a))

    def there(self, k: int, mods=(), noun: str = "shape") -> str:
        """`there are three red circles`, `there is one red circle`, `there are no red circles`."""
        if k == 0:
            return f"there are no {' '.join([*mods, noun])}s"
        return f"there {'is' if k == 1 else 'are'} {count_phrase(k, list(mods), noun)}"

    def breakdown(self, attr: str, noun: str = "shape") -> str:
        """`two red shapes and one blue shape` (by color) or `two circles and a star` (by shape)."""
        counts = Counter(getattr(a, attr) if attr != "shape" else noun_of(a) for a in self.anns)
        items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if attr == "shape":
            return join_words([count_phrase(n, [], key) for key, n in items])
        return join_words([count_phrase(n, [key], noun) for key, n in items])

    def strict_pairs(self) -> list[tuple[Annotation, str, Annotation]]:
        """(a, relation, b) that hold with no box overlap on that axis, both uniquely nameable."""
        return [
            (a, rel, b)
            for a in self.anns
            for b in self.anns
            if a is not b and self.ref(a) and self.ref(b)
            for rel in RELATIONS
            if relation_holds(a, rel, b)
        ]


SIDE_WORD = {
    "to the left of": "left",
    "to the right of": "right",
    "above": "above",
    "below": "below",
}
# The one-word answers' opposites: `a rel b` holds strictly exactly when `b OPPOSITE[rel] a`
# does (relation_holds), so a pair asked the other way round has the opposite answer.
OPPOSITE_WORD = {SIDE_WORD[rel]: SIDE_WORD[inv] for rel, inv in OPPOSITE.items()}


def named_for(f: Facts, attr: str) -> list[tuple[Annotation, str]]:
    """(object, name) pairs whose name does not give `attr` away: color and size by the
    shortest unique reference without that attribute; shape by color (and size) with the
    generic noun `object`, so the shape is not in the question."""
    if attr == "shape":
        return [
            (a, " ".join(m))
            for a in f.anns
            for m in ([a.color], [a.size, a.color])
            if a.shape and None not in m and f.count(m, "shape") == 1
        ]
    valid = (lambda a: a.color) if attr == "color" else (lambda a: a.size in ("small", "large"))
    return [(a, r) for a in f.anns if valid(a) and (r := f.ref(a, (attr,)))]


def ask_attribute(f: Facts, attr: str, templates) -> tuple[str, str] | None:
    """`What color is the {r}?` -> `red`: one uniquely named object, a template, its value."""
    named = named_for(f, attr)
    if not named:
        return None
    a, r = f.pick(named)
    return f.pick(templates).format(r=r), getattr(a, attr)


def ask_side(
    f: Facts,
    templates_by_axis: dict,
    answer: Callable[[str, str, str], str] | None = None,
    flip: Callable[[str], bool] | None = None,
) -> tuple[str, str] | None:
    """`Is the {ra} left or right of the {rb}?` -> `left`, over strict relations only;
    `answer(ra, rel, rb)` writes a sentence instead of the one word. `flip(word)` true asks
    the pair the other way round (`b` first, the opposite word): the eval set uses it to
    balance each axis's answers, and it draws no random numbers."""
    pairs = f.strict_pairs()
    if not pairs:
        return None
    a, rel, b = f.pick(pairs)
    if flip is not None and flip(SIDE_WORD[rel]):
        a, rel, b = b, OPPOSITE[rel], a
    axis = "x" if rel in ("to the left of", "to the right of") else "y"
    ra, rb = f.ref(a), f.ref(b)
    reply = answer(ra, rel, rb) if answer else SIDE_WORD[rel]
    return f.pick(templates_by_axis[axis]).format(ra=ra, rb=rb), reply


def where(a: Annotation) -> str:
    r = region(a.box)
    return "the center of the image" if r == "center" else f"the {r} part of the image"


def detail(f: Facts) -> str:
    """A paragraph: the inventory, where each object is, a relation, and a summary."""
    n, anns = len(f.anns), list(f.anns)
    f.rng.shuffle(anns)
    opening = f.pick(
        [
            f"The image shows {count_phrase(n, [], 'shape')}.",
            f"This picture contains {count_phrase(n, [], 'object')}.",
            f"In this image {f.there(n)}: {f.breakdown('shape')}.",
        ]
    )
    parts = [opening]
    for a in anns[:5]:
        verb = f.pick(["sits", "is", "can be seen", "appears"])
        parts.append(f"{cap(f.np(a))} {verb} in {where(a)}.")
    if n > 5:
        parts.append(f"The other {count_phrase(n - 5, [], 'shape')} are spread over the rest.")
    pairs = f.strict_pairs()
    if pairs:
        a, rel, b = f.pick(pairs)
        parts.append(f"The {f.ref(a)} is {rel} the {f.ref(b)}.")
    if n > 1:
        parts.append(cap(f"by color, {f.there(n)} in all: {f.breakdown('color')}."))
        sizes = Counter(a.size for a in f.anns)
        if len(sizes) == 1 and None not in sizes:
            parts.append(f"All the shapes are {next(iter(sizes))}.")
        elif None not in sizes:
            parts.append(cap(f"{f.breakdown('size')} make up the scene."))
    return " ".join(parts)


def write(kind: str, f: Facts, focus: dict[str, float] | None = None) -> str:
    """The JSON answer an ideal teacher would give for this request (`focus`: the shares of
    question types the short rounds are asked to favour)."""
    from vit.synth.backends.grounded_qa import conversation
    from vit.synth.backends.grounded_reasoning import reasoning
    from vit.synth.backends.grounded_short import short

    if kind == "short":
        return json.dumps({"conversation": short(f, focus=focus)}, ensure_ascii=False)
    if kind == "conversation":
        return json.dumps({"conversation": conversation(f)}, ensure_ascii=False)
    if kind == "detail":
        return json.dumps({"description": detail(f)}, ensure_ascii=False)
    q, a = reasoning(f)
    return json.dumps({"question": q, "answer": a}, ensure_ascii=False)


class GroundedBackend(Backend):
    name = "grounded"

    def __init__(self, model: str = "grounded-v3") -> None:
        # Bump the version when the writer changes: the model name is part of every cache key.
        self.model = model or "grounded-v3"

    def _answer(self, req: Request) -> Response:
        anns = [a for a in (req.record.annotations if req.record else []) if a.box]
        if not anns:
            return Response(text=None, error="grounded: the record has no boxed annotations")
        rng = np.random.default_rng(int(req.key[:16], 16))
        return Response(text=write(req.type, Facts(anns, rng), req.focus))

    def generate(self, batch: list[Request], on_result: OnResult | None = None) -> list[Response]:
        return deliver(batch, self._answer, on_result)
