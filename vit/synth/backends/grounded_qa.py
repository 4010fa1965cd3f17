"""Conversation rounds for the grounded writer: counting and existence questions here,
single objects and positions in `grounded_where`; `conversation()` mixes them.

Each takes `Facts` and returns (question, answer) or None when the scene does not allow it
(e.g. no uniquely nameable object). Phrasings are picked by the seeded RNG; every answer
restates what it claims in words the validator reads (`There are two red circles.`).
"""

from __future__ import annotations

from vit.synth.backends.grounded import Facts, cap, where
from vit.synth.backends.grounded_where import (
    color_of,
    describe,
    extreme,
    half_count,
    relation,
    shape_of,
    side_choice,
    size_compare,
    size_of,
    where_is,
    which_relation,
)
from vit.synth.vocab import COLORS, SHAPES, SIZES, article, count_phrase, join_words, noun_of

QA = tuple[str, str] | None


def total(f: Facts) -> QA:
    n = len(f.anns)
    q = f.pick(
        [
            "How many shapes are there in the image?",
            "How many objects can you see in this picture?",
            "What is the total number of shapes in the image?",
            "Can you count the objects in this image?",
            "How many shapes does the picture contain?",
        ]
    )
    if n == 1:
        return q, f.pick(["There is only one shape in the image.", "I can see just one object."])
    cp = count_phrase(n, [], f.pick(["shape", "object"]))
    a = f.pick([f"There are {cp} in the image.", f"I can see {cp}.", f"{cap(cp)} are visible."])
    return q, a


def _count_answer(f: Facts, k: int, mods: list[str], noun: str) -> str:
    if k == 0:
        plural = " ".join([*mods, noun]) + "s"
        return f.pick(
            [
                f"There are no {plural} in the image.",
                f"I don't see any {plural}.",
                f"None. {cap(f.there(0, mods, noun))}.",
            ]
        )
    return f.pick([cap(f.there(k, mods, noun)) + ".", f"I can see {count_phrase(k, mods, noun)}."])


def count_of(f: Facts) -> QA:
    """How many circles / red circles / red shapes / small shapes (sometimes zero)."""
    a = f.pick(f.anns)
    what = f.pick(
        [([], noun_of(a)), ([a.color], noun_of(a)), ([a.color], "shape"), ([a.size], "shape")]
    )
    mods, noun = what
    if None in mods:
        return None
    if f.chance(0.25):  # ask about something absent: the answer is a count of zero
        mods, noun = ([], f.pick(SHAPES)) if not mods else ([f.pick(list(COLORS))], noun)
    plural = " ".join([*mods, noun]) + "s"
    q = f.pick(
        [
            f"How many {plural} are there?",
            f"How many {plural} can you see?",
            f"How many {plural} do you see in the image?",
            f"Count the {plural} in the picture.",
            f"How many {plural} are in the picture?",
        ]
    )
    return q, _count_answer(f, f.count(mods, noun), mods, noun)


def _ask_exists(f: Facts, d: str) -> str:
    art = article(d)
    return f.pick(
        [
            f"Is there {art} {d} in the image?",
            f"Do you see {art} {d}?",
            f"Can you spot {art} {d} in this picture?",
            f"Does the image contain {art} {d}?",
            f"Is there any {d} here?",
        ]
    )


def exists_yes(f: Facts) -> QA:
    a = f.pick(f.anns)
    mods = f.pick([[], [a.color], [a.size, a.color], [a.size]])
    if None in mods:
        return None
    d, k = " ".join([*mods, noun_of(a)]), f.count(mods, noun_of(a))
    ans = f.pick(
        [
            f"Yes, there is {article(d)} {d} in the image.",
            f"Yes, I can see {article(d)} {d}.",
            f"Yes, {f.there(k, mods, noun_of(a))}.",
            f"Yes. {cap(f.np(a))} is in {where(a)}.",
        ]
    )
    return _ask_exists(f, d), ans


def exists_no(f: Facts) -> QA:
    """A plausible object that is not there; the answer says so and names what is."""
    shape, color = f.pick(SHAPES), f.pick(list(COLORS))
    mods = f.pick([[color], [], [f.pick(SIZES), color]])
    if f.count(mods, shape):
        return None
    d = " ".join([*mods, shape])
    ans = f.pick(
        [
            f"No, there is no {d} in the image.",
            f"No, I don't see any {d}s.",
            f"No, there isn't {article(d)} {d} in this picture.",
            f"No. There are no {d}s here.",
        ]
    )
    similar = [a for a in f.anns if noun_of(a) == shape or a.color == color]
    if similar and f.chance(0.5):
        ans = ans[:-1] + f", but there is {f.np(f.pick(similar))}."
    return _ask_exists(f, d), ans


def colors_present(f: Facts) -> QA:
    colors = sorted({a.color for a in f.anns if a.color})
    if not colors:
        return None
    q = f.pick(
        [
            "What colors are the shapes?",
            "Which colors appear in the image?",
            "What colors can you see?",
            "What colors do the objects have?",
        ]
    )
    if len(colors) == 1:
        return q, f"All the shapes are {colors[0]}."
    listed = join_words(colors)
    return q, f.pick(
        [f"The shapes are {listed}.", f"I can see {listed} shapes.", f"The colors are {listed}."]
    )


def shapes_present(f: Facts) -> QA:
    q = f.pick(
        [
            "What kinds of shapes are in the image?",
            "Which shapes can you see?",
            "What types of objects does the picture show?",
        ]
    )
    listed = f.breakdown("shape")
    be = "is" if listed.startswith("one ") else "are"
    return q, f.pick([f"I can see {listed}.", f"There {be} {listed}."])


def more_than(f: Facts) -> QA:
    s1, s2 = f.rng.choice(SHAPES, size=2, replace=False)
    k1, k2 = f.count([], s1), f.count([], s2)
    q = f.pick([f"Are there more {s1}s than {s2}s?", f"Do you see more {s1}s than {s2}s?"])
    facts = f"{f.there(k1, [], s1)} and {f.there(k2, [], s2).removeprefix('there is ').removeprefix('there are ')}"
    return q, f"{'Yes' if k1 > k2 else 'No'}, {facts}."


def same_color(f: Facts) -> QA:
    colors = {a.color for a in f.anns}
    if len(f.anns) < 2 or None in colors:
        return None
    q = f.pick(
        [
            "Are all the shapes the same color?",
            "Do all the objects share one color?",
            "Is every shape the same color?",
        ]
    )
    if len(colors) == 1:
        return q, f"Yes, all the shapes are {colors.pop()}."
    return q, f"No, there are {f.breakdown('color')}."


def any_size(f: Facts) -> QA:
    size = f.pick(SIZES)
    k = f.count([size], "shape")
    q = f.pick(
        [
            f"Are there any {size} shapes?",
            f"Is there any {size} shape in the picture?",
            f"Do you see any {size} objects?",
        ]
    )
    if k:
        return q, f"Yes, {f.there(k, [size], 'shape')}."
    other = SIZES[1 - SIZES.index(size)]
    if len(f.anns) == 1:
        return q, f"No, the {noun_of(f.anns[0])} is {other}."
    return q, f"No, all the shapes are {other}."


def most_common(f: Facts) -> QA:
    counts = sorted(((f.count([c], "shape"), c) for c in COLORS), reverse=True)
    (k, c), (k2, _) = counts[0], counts[1]
    if k == k2 or k2 == 0:
        return None
    q = f.pick(
        [
            "Which color is the most common?",
            "What is the most common color among the shapes?",
            "Which color appears most often?",
        ]
    )
    cp = count_phrase(k, [c], "shape")
    return q, f.pick(
        [
            f"{cap(c)} is the most common color: there are {cp}.",
            f"The most common color is {c}, with {cp}.",
        ]
    )


ASKERS = (
    total,
    count_of,
    count_of,
    exists_yes,
    color_of,
    shape_of,
    size_of,
    where_is,
    relation,
    which_relation,
    side_choice,
    side_choice,
    colors_present,
    shapes_present,
    more_than,
    same_color,
    any_size,
    most_common,
    size_compare,
    half_count,
    extreme,
    describe,
)


def conversation(f: Facts) -> list[dict[str, str]]:
    """4-6 distinct rounds, always including an existence question, as often "yes" as "no"
    (a set that always holds a "no" taught the model to say no: README, "Tuning")."""
    rounds: list[tuple[str, str]] = []
    exists = exists_no if f.chance(0.5) else exists_yes
    for _ in range(10):
        qa = exists(f)
        if qa:
            rounds.append(qa)
            break
    want, used = int(f.rng.integers(4, 7)), set()
    for _ in range(40):
        if len(rounds) >= want:
            break
        ask = f.pick(ASKERS)
        qa = None if ask in used else ask(f)
        if qa and qa[0] not in {q for q, _ in rounds}:
            rounds.append(qa)
            used.add(ask if ask is not count_of else None)  # counts may be asked twice
    order = f.rng.permutation(len(rounds))
    return [{"question": rounds[i][0], "answer": rounds[i][1]} for i in order]
