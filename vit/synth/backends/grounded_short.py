"""Short-answer rounds for the grounded writer: the `short` instruction type.

LLaVA-1.5 mixes academic VQA data (VQAv2, GQA) into instruction tuning with the prompt
"Answer the question using a single word or phrase." Its answers are one word, so every
supervised token is about the image: a dense signal that a small model trained from scratch
needs to start looking (measured: README, "Tuning and evaluation"). `short()` writes 6-10
rounds per image over counts, colors, shapes, sizes, existence and left/right/above/below,
each answer one word or number read off the annotations. Phrasings are many and varied so
the model learns the task and not a sentence; none is an eval template (a test checks).
"""

from __future__ import annotations

from collections.abc import Callable

from vit.synth.backends.grounded import Facts, ask_attribute, ask_side
from vit.synth.vocab import COLORS, SHAPES, article, noun_of

QA = tuple[str, str] | None
SHORT_PROMPT = "Answer each question with a single word or number."

_COUNT = (
    "How many {p} are there?",
    "How many {p} can you see?",
    "How many {p} are in the picture?",
    "Count the {p}.",
    "What is the number of {p} in the picture?",
    "How many {p} does the image show?",
    "Tell me how many {p} there are.",
)
_COLOR = (
    "What color is the {r}?",
    "Which color does the {r} have?",
    "What is the color of the {r}?",
    "Name the color of the {r}.",
    "The {r} is which color?",
    "Tell me the color of the {r}.",
)
_SHAPE = (
    "What shape is the {r} object?",
    "What is the shape of the {r} object?",
    "Which shape is the {r} object?",
    "Name the shape of the {r} object.",
    "What kind of object is the {r} one?",
    "The {r} object has which shape?",
)
_SIZE = (
    "Is the {r} large or small?",
    "What size is the {r}?",
    "Is the {r} big or small?",
    "Is the {r} small or big?",
    "How big is the {r}?",
    "What is the size of the {r}?",
)
_EXIST = (
    "Is there {a} {d}?",
    "Is there {a} {d} in the image?",
    "Do you see {a} {d}?",
    "Can you find {a} {d} here?",
    "Does the picture contain {a} {d}?",
    "Is {a} {d} visible?",
    "Does the image have {a} {d}?",
)
_SIDE = {
    "x": (
        "Is the {ra} to the left or to the right of the {rb}?",
        "Is the {ra} on the left or the right side of the {rb}?",
        "On which side of the {rb} is the {ra}, left or right?",
        "Relative to the {rb}, is the {ra} left or right?",
        "Is the {ra} placed left or right of the {rb}?",
    ),
    "y": (
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


def short(f: Facts, lo: int = 6, hi: int = 10) -> list[dict[str, str]]:
    """`lo`-`hi` distinct rounds with one-word answers; the first question carries the
    answer-format instruction, as LLaVA-1.5's VQA prompts do."""
    want, rounds = int(f.rng.integers(lo, hi + 1)), []
    seen: set[str] = set()
    for _ in range(4 * hi):
        if len(rounds) >= want:
            break
        qa = f.pick(ASKERS)(f)
        if qa and qa[0] not in seen:
            seen.add(qa[0])
            rounds.append({"question": qa[0], "answer": qa[1]})
    if rounds:
        rounds[0]["question"] = f"{rounds[0]['question']}\n{SHORT_PROMPT}"
    return rounds
