"""Complex-reasoning questions for the grounded writer: the facts first, then the conclusion.

Like LLaVA's complex_reasoning type, the question does not give the answer away; the answer
states what is seen (checkable) and then reasons from it (hypothetical sentences such as
`Removing the two red shapes would leave four shapes.` are checked by arithmetic).
"""

from __future__ import annotations

from math import dist

from vit.synth.backends.grounded import Facts, cap, where
from vit.synth.vocab import article, center, count_phrase, noun_of

QA = tuple[str, str] | None
CORNERS = {"top-left": (0, 0), "top-right": (1, 0), "bottom-left": (0, 1), "bottom-right": (1, 1)}


def closest_corner(f: Facts) -> QA:
    corner = f.pick(list(CORNERS))
    ranked = sorted(f.anns, key=lambda a: dist(center(a), CORNERS[corner]))
    if len(ranked) < 2 or not f.ref(ranked[0]) or not f.ref(ranked[1]):
        return None
    d0, d1 = (dist(center(a), CORNERS[corner]) for a in ranked[:2])
    if d1 - d0 < 0.05:
        return None  # a near tie: no certain answer
    q = f.pick(
        [
            f"Which shape is closest to the {corner} corner of the image?",
            f"If you had to pick the object nearest the {corner} corner, which one would it be?",
            f"Starting from the {corner} corner, which shape would you reach first?",
        ]
    )
    a, b = f.ref(ranked[0]), f.ref(ranked[1])
    ans = (
        f"The {a} is the closest to the {corner} corner. It lies in {where(ranked[0])}, "
        f"and the next nearest is the {b} in {where(ranked[1])}."
    )
    return q, ans


def removal(f: Facts) -> QA:
    n = len(f.anns)
    a = f.pick(f.anns)
    mods, noun = f.pick([([a.color], "shape"), ([], noun_of(a))])
    k = f.count(mods, noun)
    if None in mods or not 0 < k < n:
        return None
    gone = count_phrase(k, mods, noun)
    plural = " ".join([*mods, noun]) + "s"
    q = f.pick(
        [
            f"If the {gone} were removed, how many shapes would remain?",
            f"Imagine every {' '.join([*mods, noun])} were taken away. How many objects would be left?",
            f"Suppose all the {plural} disappeared. How many shapes would still be in the picture?",
        ]
    )
    ans = (
        f"{cap(f.there(n))} in the picture, and {f.there(k, mods, noun).split(' ', 2)[2]} among them. "
        f"Removing the {gone} would leave {count_phrase(n - k, [], 'shape')}."
    )
    return q, ans


def color_vote(f: Facts) -> QA:
    counts = sorted(((f.count([c], "shape"), c) for c in {a.color for a in f.anns}), reverse=True)
    if len(counts) < 2 or counts[0][0] == counts[1][0] or None in {c for _, c in counts}:
        return None
    c = counts[0][1]
    q = f.pick(
        [
            "If the shapes were sorted into groups by color, which group would be the biggest?",
            "Which color would win if every shape voted for its own color?",
        ]
    )
    return q, f"The {c} group. There are {f.breakdown('color')}, so {c} is the most common color."


def balance(f: Facts) -> QA:
    axis, sides = f.pick([(0, ("left", "right")), (1, ("top", "bottom"))])
    offs = [center(a)[axis] - 0.5 for a in f.anns]
    if any(abs(o) < 0.05 for o in offs):
        return None
    k1, k2 = sum(o < 0 for o in offs), sum(o > 0 for o in offs)
    q = f.pick(
        [
            f"Is the picture balanced between its {sides[0]} and {sides[1]} halves?",
            f"Which half of the image holds more shapes, the {sides[0]} or the {sides[1]}?",
        ]
    )

    def holds(side: str, k: int) -> str:
        return f"the {side} half holds {count_phrase(k, [], 'shape') if k else 'no shapes'}"

    verdict = (
        "So the two halves are balanced."
        if k1 == k2
        else f"So the {sides[0] if k1 > k2 else sides[1]} half is busier."
    )
    return q, f"{cap(holds(sides[0], k1))} and {holds(sides[1], k2)}. {verdict}"


def size_groups(f: Facts) -> QA:
    big, small = f.count(["large"], "shape"), f.count(["small"], "shape")
    if big + small != len(f.anns) or big == small:
        return None
    q = f.pick(
        [
            "Are there more large shapes or small shapes?",
            "Does the scene hold more big or small objects?",
        ]
    )
    more = "large" if big > small else "small"
    return q, (
        f"{cap(f.there(big, ['large']))} and {f.there(small, ['small']).split(' ', 2)[2]}, "
        f"so the {more} ones are more numerous."
    )


def add_one(f: Facts) -> QA:
    a = f.pick(f.anns)
    color, shape = f.pick([a.color, "green", "purple"]), f.pick(["circle", "star", noun_of(a)])
    if color is None:
        return None
    k = f.count([color], "shape")
    q = f"If {article_np(color, shape)} were added to the picture, how many {color} shapes would there be?"
    return q, (
        f"Currently {f.there(k, [color])}. "
        f"Adding it would make {count_phrase(k + 1, [color], 'shape')}."
    )


def article_np(color: str, shape: str) -> str:
    return f"{article(color)} {color} {shape}"


def palette(f: Facts) -> QA:
    colors = sorted({a.color for a in f.anns} - {None})
    if len(colors) < 2:
        return None
    q = "How many different paints would you need to repaint this picture exactly as it is?"
    listed = ", ".join(colors[:-1]) + " and " + colors[-1]
    return q, (
        f"The shapes come in {count_phrase(len(colors), [], 'color')}: {listed}. "
        f"So you would need {len(colors)} paints for the shapes, plus one for the background."
    )


def extreme_path(f: Facts) -> QA:
    ranked = sorted(f.anns, key=lambda a: center(a)[0])
    if (
        len(ranked) < 2
        or not f.ref(ranked[0])
        or center(ranked[1])[0] - center(ranked[0])[0] < 0.05
    ):
        return None
    q = "Moving your eyes from the left edge of the picture to the right, which shape do you meet first?"
    return q, f"The {f.ref(ranked[0])} is the leftmost shape, so it comes first."


WRITERS = (
    closest_corner,
    removal,
    color_vote,
    balance,
    size_groups,
    add_one,
    palette,
    extreme_path,
)


def reasoning(f: Facts) -> tuple[str, str]:
    for _ in range(30):
        qa = f.pick(WRITERS)(f)
        if qa:
            return qa
    # Few puzzles fit a lone object with no color; this one always applies.
    n = len(f.anns)
    return "How many shapes would there be if one more were added?", (
        f"{cap(f.there(n))} now. Adding one more would make {count_phrase(n + 1, [], 'shape')}."
    )
