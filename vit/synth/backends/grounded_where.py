"""Conversation rounds about single objects and where things are: attributes, regions,
relations, sizes compared, halves, extremes, and the full description as one round.

Each function takes `Facts` and returns (question, answer) or None when the scene has no
object it can name unambiguously; see `grounded_qa` for the counting rounds.
"""

from __future__ import annotations

from vit.records import Annotation
from vit.synth.backends.grounded import OPPOSITE, Facts, ask_side, cap, detail, where
from vit.synth.vocab import count_phrase, join_words

QA = tuple[str, str] | None


def _unique(f: Facts, without: tuple[str, ...]) -> tuple[Annotation, str] | None:
    named = [(a, r) for a in f.anns if (r := f.ref(a, without))]
    return f.pick(named) if named else None


def color_of(f: Facts) -> QA:
    found = _unique(f, ("color",))
    if not found or found[0].color is None:
        return None
    a, r = found
    q = f.pick(
        [f"What color is the {r}?", f"Which color is the {r}?", f"What is the color of the {r}?"]
    )
    ans = f.pick([f"The {r} is {a.color}.", f"It is {a.color}.", f"It's {a.color}."])
    if f.chance(0.3):
        ans = f"The {r} is {a.color}, and it sits in {where(a)}."
    return q, ans


def shape_of(f: Facts) -> QA:
    named = [(a, " ".join(m)) for a in f.anns for m in ([a.color], [a.size, a.color])]
    named = [(a, r) for a, r in named if None not in r.split() and f.count(r.split(), "shape") == 1]
    if not named or not f.anns[0].shape:
        return None
    a, r = f.pick(named)
    q = f.pick([f"What shape is the {r} object?", f"What is the shape of the {r} object?"])
    ans = f.pick([f"The {r} object is a {a.shape}.", f"It is {f.np(a)}.", f"It's a {a.shape}."])
    return q, ans


def size_of(f: Facts) -> QA:
    found = _unique(f, ("size",))
    if not found or found[0].size is None:
        return None
    a, r = found
    word = f.pick([a.size, a.size, {"large": "big", "small": "tiny"}[a.size]])
    q = f.pick(
        [
            f"Is the {r} large or small?",
            f"What size is the {r}?",
            f"How big is the {r}?",
            f"Is the {r} big or small?",
        ]
    )
    return q, f.pick([f"The {r} is {word}.", f"It is {word}.", f"It's {word}."])


def where_is(f: Facts) -> QA:
    found = _unique(f, ())
    if not found:
        return None
    a, r = found
    q = f.pick(
        [
            f"Where is the {r}?",
            f"Where is the {r} located?",
            f"In which part of the image is the {r}?",
        ]
    )
    place = where(a)
    ans = f.pick(
        [
            f"The {r} is in {place}.",
            f"The {r} sits in {place}.",
            f"You can find the {r} in {place}.",
        ]
    )
    return q, ans


def relation(f: Facts) -> QA:
    pairs = f.strict_pairs()
    if not pairs:
        return None
    a, rel, b = f.pick(pairs)
    ra, rb = f.ref(a), f.ref(b)
    if f.chance(0.5):  # ask the opposite relation: the answer is "no"
        q = f"Is the {ra} {OPPOSITE[rel]} the {rb}?"
        return q, f.pick(
            [f"No, the {ra} is {rel} the {rb}.", f"No. The {ra} is actually {rel} the {rb}."]
        )
    q = f"Is the {ra} {rel} the {rb}?"
    return q, f.pick(
        [
            f"Yes, the {ra} is {rel} the {rb}.",
            "Yes, it is.",
            f"Yes. The {ra} is located {rel} the {rb}.",
        ]
    )


SIDE_CHOICES = {
    "x": (
        "Is the {ra} to the left or to the right of the {rb}?",
        "Is the {ra} on the left or on the right of the {rb}?",
        "Which side of the {rb} is the {ra} on, left or right?",
    ),
    "y": (
        "Is the {ra} above the {rb} or below it?",
        "Is the {ra} higher or lower than the {rb}?",
        "Is the {ra} located above or below the {rb}?",
    ),
}


def side_choice(f: Facts) -> QA:
    """`Is the X to the left or to the right of the Y?` answered in a sentence: the
    conversation-style twin of the short rounds' one-word side questions."""
    return ask_side(
        f,
        SIDE_CHOICES,
        lambda ra, rel, rb: f.pick(
            [f"The {ra} is {rel} the {rb}.", f"The {ra} is located {rel} the {rb}."]
        ),
    )


def which_relation(f: Facts) -> QA:
    pairs = f.strict_pairs()
    if not pairs:
        return None
    _, rel, b = f.pick(pairs)
    rb = f.ref(b)
    found = [a for a in f.anns if a is not b and f.ref(a) and (a, rel, b) in pairs]
    q = f.pick(
        [
            f"What is {rel} the {rb}?",
            f"Which shape is {rel} the {rb}?",
            f"What can you see {rel} the {rb}?",
        ]
    )
    names = [f.np(a) for a in found]
    verb = "is" if len(names) == 1 else "are"
    return q, f"{cap(join_words(names))} {verb} {rel} the {rb}."


def size_compare(f: Facts) -> QA:
    named = [(a, r) for a in f.anns if (r := f.ref(a, ("size",))) and a.size]
    pairs = [
        (a, ra, b, rb)
        for a, ra in named
        for b, rb in named
        if a.size == "large" and b.size == "small"
    ]
    if not pairs:
        return None
    a, ra, b, rb = f.pick(pairs)
    if f.chance(0.5):
        return (
            f"Is the {ra} bigger than the {rb}?",
            f"Yes, the {ra} is large and the {rb} is small.",
        )
    return f"Is the {rb} bigger than the {ra}?", f"No, the {rb} is small, while the {ra} is large."


def half_count(f: Facts) -> QA:
    half = f.pick(["left", "right", "top", "bottom"])
    axis, sign = (
        (0, -1)
        if half == "left"
        else (0, 1)
        if half == "right"
        else (1, -1 if half == "top" else 1)
    )
    offs = [sign * ((a.box[axis] + a.box[axis + 2]) / 2 - 0.5) for a in f.anns]
    if any(abs(o) < 0.05 for o in offs):
        return None  # an object straddles the middle line: the count would be arguable
    k = sum(o > 0 for o in offs)
    q = f.pick(
        [
            f"How many shapes are in the {half} half of the image?",
            f"How many objects are in the {half} half?",
        ]
    )
    return q, (
        f"There {'is' if k == 1 else 'are'} {count_phrase(k, [], 'shape')} in the {half} half."
        if k
        else f"There are no shapes in the {half} half."
    )


def extreme(f: Facts) -> QA:
    ext, axis, sign = f.pick(
        [("leftmost", 0, 1), ("rightmost", 0, -1), ("highest", 1, 1), ("lowest", 1, -1)]
    )
    keyed = sorted(f.anns, key=lambda a: sign * (a.box[axis] + a.box[axis + 2]) / 2)
    if len(keyed) < 2 or not f.ref(keyed[0]):
        return None
    margin = [sign * (a.box[axis] + a.box[axis + 2]) / 2 for a in keyed[:2]]
    if margin[1] - margin[0] < 0.05:
        return None
    q = f.pick([f"Which shape is the {ext}?", f"Which object is the {ext} one in the image?"])
    return q, f.pick(
        [f"The {f.ref(keyed[0])} is the {ext}.", f"The {ext} shape is the {f.ref(keyed[0])}."]
    )


def describe(f: Facts) -> QA:
    return f.pick(
        ["Can you describe the image in detail?", "What does the whole picture look like?"]
    ), detail(f)
