"""Factual captions for synthetic scenes, written from their annotations alone.

Used by `vit generate scenes --n N --seed S --out DIR` (see `vit.sources.scenes`).
Every sentence is derived from the annotations (shape, color, size, box), so it is true by
construction; `tests/sources/test_scenes.py` re-checks the numbers by parsing the text.
Pure functions: the same annotations and the same rng state give the same captions.

Grammar the checker relies on: a count is `<number word> <modifiers> <noun>`, a single
object is `a|an <modifiers> <noun>`, where modifiers are sizes and colors and the noun is a
shape name, "shape" or "object" (plural with an "s").
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from vit.records import IMAGE_TOKEN, Annotation

NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)

# LLaVA's pretraining (caption) prompts: a brief description in many wordings.
BRIEF_PROMPTS = (
    "Describe the image concisely.",
    "Provide a brief description of the given image.",
    "Offer a succinct explanation of the picture presented.",
    "Summarize the visual content of the image.",
    "Give a short and clear explanation of the subsequent image.",
    "Share a concise interpretation of the image provided.",
    "Present a compact description of the photo's key features.",
    "Relay a brief, clear account of the picture shown.",
    "Render a clear and concise summary of the photo.",
    "Write a terse but informative summary of the picture.",
)

# Relations hold only when the boxes do not overlap along that axis: true with no judgement.
RELATIONS = ("to the left of", "to the right of", "above", "below")


def number_word(k: int) -> str:
    return NUMBER_WORDS[k] if 0 <= k < len(NUMBER_WORDS) else str(k)


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def noun_phrase(k: int, words: list[str], noun: str) -> str:
    """`a red circle` for one, `three red circles` for more."""
    head = " ".join([*words, noun if k == 1 else noun + "s"])
    return f"{article(head)} {head}" if k == 1 else f"{number_word(k)} {head}"


def count_phrase(k: int, words: list[str], noun: str) -> str:
    """Like `noun_phrase` but always with a number word: `one red shape`."""
    return " ".join([number_word(k), *words, noun if k == 1 else noun + "s"])


def join_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _be(k: int) -> str:
    return "is" if k == 1 else "are"


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def total_caption(anns: list[Annotation], rng: np.random.Generator) -> str:
    k = len(anns)
    shapes, objects = count_phrase(k, [], "shape"), count_phrase(k, [], "object")
    return _pick(
        rng,
        [
            f"There {_be(k)} {shapes} in the image.",
            f"The image shows {objects}.",
            f"{_cap(shapes)} {_be(k)} visible.",
        ],
    )


def _breakdown(counts: Counter, noun_of) -> tuple[str, int]:
    # Most frequent first (ties by name) so the wording is stable for a given scene.
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return join_words([count_phrase(n, *noun_of(key)) for key, n in items]), items[0][1]


def shape_caption(anns: list[Annotation], rng: np.random.Generator) -> str:
    phrase, first = _breakdown(Counter(a.shape for a in anns), lambda s: ([], s))
    return _pick(
        rng,
        [f"The image contains {phrase}.", f"In this picture there {_be(first)} {phrase}."],
    )


def color_caption(anns: list[Annotation], rng: np.random.Generator) -> str:
    phrase, first = _breakdown(Counter(a.color for a in anns), lambda c: ([c], "shape"))
    return _pick(rng, [f"There {_be(first)} {phrase}.", f"By color: {phrase}."])


def size_caption(anns: list[Annotation], rng: np.random.Generator) -> str:
    phrase, first = _breakdown(Counter(a.size for a in anns), lambda s: ([s], "shape"))
    return _pick(rng, [f"There {_be(first)} {phrase}.", f"{_cap(phrase)} can be seen."])


def list_caption(anns: list[Annotation], rng: np.random.Generator) -> str:
    groups = Counter((a.size, a.color, a.shape) for a in anns)
    items = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))
    phrase = join_words([noun_phrase(n, [s, c], sh) for (s, c, sh), n in items])
    return _pick(
        rng, [f"Objects: {phrase}.", f"The scene contains {phrase}.", f"This image shows {phrase}."]
    )


def region(box: list[float]) -> str:
    """Where a box's center falls on a 3 x 3 grid: `top-left`, `center`, `bottom`, ..."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    return "-".join(p for p in (row, col) if p) or "center"


def location_caption(anns: list[Annotation], rng: np.random.Generator) -> str:
    a = anns[int(rng.integers(len(anns)))]
    subject = _cap(noun_phrase(1, [a.size, a.color], a.shape))
    verb = _pick(rng, ["is", "sits", "appears"])
    return f"{subject} {verb} in the {region(a.box)} {_pick(rng, ['part', 'area'])} of the image."


def relation_holds(a: Annotation, rel: str, b: Annotation) -> bool:
    """True when `a <rel> b` holds with no overlap of the boxes along that axis."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a.box, b.box
    return {
        "to the left of": ax2 <= bx1,
        "to the right of": bx2 <= ax1,
        "above": ay2 <= by1,
        "below": by2 <= ay1,
    }[rel]


def relation_caption(anns: list[Annotation], rng: np.random.Generator) -> str | None:
    """`A red circle is to the left of a blue square.`, or None when no pair is separated."""
    found = [
        (a, rel, b)
        for i, a in enumerate(anns)
        for j, b in enumerate(anns)
        if i != j
        for rel in RELATIONS
        if relation_holds(a, rel, b)
    ]
    if not found:
        return None
    a, rel, b = found[int(rng.integers(len(found)))]
    return (
        f"{_cap(noun_phrase(1, [a.color], a.shape))} is {rel} {noun_phrase(1, [b.color], b.shape)}."
    )


def scene_captions(anns: list[Annotation], rng: np.random.Generator) -> list[str]:
    """Six or seven factual captions for one scene (needs at least one annotation)."""
    if not anns:
        raise ValueError("a scene caption needs at least one annotated object")
    caps = [
        list_caption(anns, rng),
        total_caption(anns, rng),
        shape_caption(anns, rng),
        color_caption(anns, rng),
        size_caption(anns, rng),
        location_caption(anns, rng),
    ]
    rel = relation_caption(anns, rng)
    return caps if rel is None else [*caps, rel]


def caption_conversation(captions: list[str], rng: np.random.Generator) -> list[dict[str, str]]:
    """One LLaVA pretraining-style turn pair: a brief-description prompt and one caption."""
    prompt = _pick(rng, BRIEF_PROMPTS)
    answer = _pick(rng, captions)
    return [
        {"from": "human", "value": f"{IMAGE_TOKEN}\n{prompt}"},
        {"from": "gpt", "value": answer},
    ]
