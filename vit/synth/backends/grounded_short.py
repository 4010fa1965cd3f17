"""Short-answer rounds for the grounded writer: the `short` instruction type.

LLaVA-1.5 mixes academic VQA data (VQAv2, GQA) into instruction tuning with the prompt
"Answer the question using a single word or phrase." Its answers are one word, so every
supervised token is about the image: a dense signal that a small model trained from scratch
needs to start looking (measured: README, "Tuning and evaluation"). `short()` writes 6-10
rounds per image over counts, colors, shapes, sizes, existence and left/right/above/below,
each answer one word or number read off the annotations. Phrasings are many (templates
times place phrases) so the model learns the task and not a sentence; none is an eval
template (a test checks).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vit.synth.backends.grounded import Facts, ask_attribute, ask_side
from vit.synth.vocab import COLORS, SHAPES, article, noun_of

QA = tuple[str, str] | None
SHORT_PROMPT = "Answer each question with a single word or number."

# Where a place fits, `{at}` takes each of these and `{img}` each word for the picture, so
# one question comes in many surface forms (a model trained on few forms answers a new one
# with the wrong kind of answer: "What is the number of squares shown here?" -> "It's
# small."). "in this image" is left out: the eval's held-out sentences use it.
_AT = ("", " in the image", " in the picture", " in this picture", " in the photo", " here")
_IMG = ("image", "picture", "photo")


def _expand(*templates: str) -> tuple[str, ...]:
    """Every template with every `{at}` and `{img}`; the other fields stay to be filled."""
    out: list[str] = []
    for t in templates:
        for at in _AT if "{at}" in t else ("",):
            for img in _IMG if "{img}" in t else ("",):
                out.append(t.replace("{at}", at).replace("{img}", img))
    return tuple(dict.fromkeys(out))


_COUNT = _expand(
    "How many {p} are there{at}?",
    "How many {p} can you see{at}?",
    "How many {p} are visible{at}?",
    "How many {p} are shown{at}?",
    "How many {p} do you count{at}?",
    "How many {p} does the {img} show?",
    "How many {p} does the {img} contain?",
    "Count the {p}{at}.",
    "What is the number of {p}{at}?",
    "What is the count of {p}{at}?",
    "Tell me how many {p} there are{at}.",
)
_COLOR = _expand(
    "What color is the {r}{at}?",
    "Which color is the {r}{at}?",
    "Which color does the {r} have?",
    "What is the color of the {r}{at}?",
    "Name the color of the {r}{at}.",
    "The {r} is which color?",
    "Tell me the color of the {r}{at}.",
)
_SHAPE = _expand(
    "What shape is the {r} object{at}?",
    "What is the shape of the {r} object{at}?",
    "Which shape is the {r} object{at}?",
    "Which shape does the {r} object have?",
    "Name the shape of the {r} object{at}.",
    "What shape does the {r} object have?",
    "The {r} object has which shape?",
)
_SIZE = _expand(
    "Is the {r} large or small{at}?",
    "Is the {r} big or small{at}?",
    "Is the {r} small or big{at}?",
    "What size is the {r}{at}?",
    "How big is the {r}{at}?",
    "What is the size of the {r}{at}?",
)
_EXIST = _expand(
    "Is there {a} {d}{at}?",
    "Do you see {a} {d}{at}?",
    "Can you find {a} {d}{at}?",
    "Can you spot {a} {d}{at}?",
    "Is {a} {d} visible{at}?",
    "Does the {img} contain {a} {d}?",
    "Does the {img} have {a} {d}?",
    "Does the {img} show {a} {d}?",
)
_SIDE = {
    "x": _expand(
        "Is the {ra} to the left or to the right of the {rb}?",
        "Is the {ra} on the left or the right side of the {rb}?",
        "On which side of the {rb} is the {ra}, left or right?",
        "Relative to the {rb}, is the {ra} left or right?",
        "Is the {ra} placed left or right of the {rb}?",
    ),
    "y": _expand(
        "Is the {ra} higher or lower than the {rb}, above or below?",
        "Is the {ra} above the {rb} or below it?",
        "Relative to the {rb}, is the {ra} above or below?",
        "Is the {ra} placed above or below the {rb}?",
    ),
}


def count_short(f: Facts) -> QA:
    """All shapes, a present shape, a colored shape, a color, or an absent shape (`0`)."""
    a = f.pick(f.anns)
    mods, noun = f.pick(
        [([], "shape"), ([], noun_of(a)), ([a.color], noun_of(a)), ([a.color], "shape")]
    )
    if None in mods:
        return None
    if f.chance(0.15):
        mods, noun = [], f.pick(SHAPES)
    k = f.count(mods, noun)
    plural = " ".join([*mods, f.pick(["object", "shape"]) if noun == "shape" else noun]) + "s"
    return f.pick(_COUNT).format(p=plural), str(k)


def color_short(f: Facts) -> QA:
    return ask_attribute(f, "color", _COLOR)


def shape_short(f: Facts) -> QA:
    return ask_attribute(f, "shape", _SHAPE)


def size_short(f: Facts) -> QA:
    return ask_attribute(f, "size", _SIZE)


def exist_short(f: Facts) -> QA:
    """Half `yes` (a present shape, colored or not), half `no` (a plausible absent one)."""
    if f.chance(0.5):
        a = f.pick(f.anns)
        mods = f.pick([[], [a.color]]) if a.color else []
        d, ans = " ".join([*mods, noun_of(a)]), "yes"
    else:
        mods = f.pick([[], [f.pick(list(COLORS))]])
        shape = f.pick(SHAPES)
        if f.count(mods, shape):
            return None
        d, ans = " ".join([*mods, shape]), "no"
    return f.pick(_EXIST).format(a=article(d), d=d), ans


def side_short(f: Facts) -> QA:
    return ask_side(f, _SIDE)


ASKERS: tuple[Callable[[Facts], QA], ...] = (
    count_short,
    count_short,
    color_short,
    shape_short,
    size_short,
    exist_short,
    exist_short,
    side_short,
    side_short,
)


# The askers by the evaluation's question types, for a `focus` (vit.synth.config):
# ASKERS asks them in the shares DEFAULT_SHARES.
BY_TYPE: dict[str, Callable[[Facts], QA]] = {
    "count": count_short,
    "color": color_short,
    "shape": shape_short,
    "size": size_short,
    "existence": exist_short,
    "position": side_short,
}
DEFAULT_SHARES = {t: sum(a is fn for a in ASKERS) / len(ASKERS) for t, fn in BY_TYPE.items()}


def _asker(f: Facts, focus: dict[str, float] | None) -> Callable[[Facts], QA]:
    if not focus:
        return f.pick(ASKERS)  # unchanged draws: the cached generations stay valid
    types = [t for t in BY_TYPE if focus.get(t, 0) > 0]
    p = np.array([focus[t] for t in types], dtype=np.float64)
    return BY_TYPE[types[int(f.rng.choice(len(types), p=p / p.sum()))]]


def short(
    f: Facts, lo: int = 6, hi: int = 10, focus: dict[str, float] | None = None
) -> list[dict[str, str]]:
    """`lo`-`hi` distinct rounds with one-word answers; the first question carries the
    answer-format instruction, as LLaVA-1.5's VQA prompts do. `focus` ({question type:
    share}) draws the question types in those shares instead of ASKERS' fixed mix."""
    want, rounds = int(f.rng.integers(lo, hi + 1)), []
    seen: set[str] = set()
    for _ in range(4 * hi):
        if len(rounds) >= want:
            break
        qa = _asker(f, focus)(f)
        if qa and qa[0] not in seen:
            seen.add(qa[0])
            rounds.append({"question": qa[0], "answer": qa[1]})
    if rounds:
        rounds[0]["question"] = f"{rounds[0]['question']}\n{SHORT_PROMPT}"
    return rounds
