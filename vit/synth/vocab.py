"""One vocabulary for the grounded writer and the validator, taken from the scene generator.

The scene captions (`vit.sources.captions`) already speak this language and are factual by
construction; the grounded backend reuses their phrase builders and the validator reads the
same words back, so the two cannot drift apart.
"""

from __future__ import annotations

from vit.records import Annotation
from vit.sources.captions import (
    NUMBER_WORDS,
    RELATIONS,
    article,
    count_phrase,
    join_words,
    noun_phrase,
    number_word,
    region,
    relation_holds,
)
from vit.sources.scenes import COLORS, SHAPES

__all__ = [
    "COLORS",
    "GENERIC_NOUNS",
    "NUMBERS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "SIZE_SYNONYMS",
    "article",
    "center",
    "count_phrase",
    "join_words",
    "matches",
    "noun_of",
    "noun_phrase",
    "number_word",
    "region",
    "relation_holds",
]

SIZES = ("small", "large")
SIZE_SYNONYMS = {"big": "large", "tiny": "small", "little": "small"}
GENERIC_NOUNS = ("shape", "object", "item", "figure")
_TEENS = ("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen")
NUMBERS = {w: i for i, w in enumerate((*NUMBER_WORDS, *_TEENS, "eighteen", "nineteen", "twenty"))}


def noun_of(a: Annotation) -> str:
    """The noun an object is called by: its shape, else its label (non-scene annotations)."""
    return (a.shape or a.label).lower()


def center(a: Annotation) -> tuple[float, float]:
    x1, y1, x2, y2 = a.box
    return (x1 + x2) / 2, (y1 + y2) / 2


def matches(a: Annotation, mods: list[str], noun: str) -> bool:
    """Does object `a` fit `mods` (colors/sizes) and `noun` (a shape, a label or a generic)?"""
    for m in mods:
        m = SIZE_SYNONYMS.get(m, m)
        if m in SIZES:
            if a.size is not None and a.size != m:
                return False
        elif a.color is not None and a.color != m:
            return False
    return noun in GENERIC_NOUNS or noun == noun_of(a)
