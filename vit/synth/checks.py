"""One function per claim kind: find the phrases in a clause, judge them on the scene.

Each takes (text, grammar, scene) and returns Claims; `vit.synth.grounding` decides which
clauses each one sees (negated and hypothetical clauses are kept away from most of them).
"""

from __future__ import annotations

import re
from math import dist

from vit.records import Annotation
from vit.synth.claims import (
    LOCATIVE,
    MOD,
    Claim,
    Scene,
    color_counts,
    find,
    num,
)
from vit.synth.vocab import SHAPES, SIZE_SYNONYMS, SIZES, center, matches

_COMPARATIVE = {"least", "most", "than", "about", "around", "approximately", "nearly", "almost"}
_COMPARATIVE |= {"over", "under", "to", "up", "some", "every", "per", "each"}
_DEFINITE = {"the", "these", "those", "other", "remaining", "first", "last", "another"}
_DEFINITE |= {"its", "their", "both", "all"}
_PUNCT = re.compile(r"[,:;()\u2014]")
_LIST_START = re.compile(r"[:;()\u2014]")
_TOL = 0.02
_CORNERS = {"top-left": (0, 0), "top-right": (1, 0), "bottom-left": (0, 1), "bottom-right": (1, 1)}


def _segment(text: str, m: re.Match) -> str:
    """The scope a locative can restrict a phrase from: back to the previous punctuation,
    forward to a colon or semicolon (`two circles, both red, on the left` is restricted;
    `five shapes: a circle on the left, ...` is not), minus the phrase itself."""
    lo = max((p.end() for p in _PUNCT.finditer(text, 0, m.start())), default=0)
    hi = _LIST_START.search(text, m.end())
    return text[lo : m.start()] + " " + text[m.end() : hi.start() if hi else len(text)]


def _prev_word(text: str, m: re.Match) -> str:
    words = text[: m.start()].split()
    return words[-1] if words else ""


def absent_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "absent", text):
        if LOCATIVE.search(_segment(text, m)):
            continue  # `no circles on the left` says nothing about the whole image
        objs = scene.select(m)
        if m.groupdict().get("attr"):
            objs = [a for a in objs if matches(a, m["attr"].replace(",", " ").split(), "shape")]
        out.append(Claim("absent", m[0], not objs, f"the image has {len(objs)}"))
    return out


def count_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "count", text):
        prev = _prev_word(text, m)
        if prev in _COMPARATIVE:
            continue
        n, k = num(m["num"]), len(scene.select(m))
        # `the two circles`, `two circles on the left`: maybe a subset, so only a lower bound.
        atleast = prev in _DEFINITE or bool(LOCATIVE.search(_segment(text, m)))
        ok = k >= n if atleast else k == n
        out.append(Claim("count", m[0], ok, f"the image has {k}"))
    return out


def exist_claims(text: str, g, scene: Scene) -> list[Claim]:
    return [
        Claim("exists", m[0], bool(scene.select(m)), "no such object")
        for m in find(g, "exist", text)
    ]


def _attr_words(attr: str) -> tuple[list[str], str]:
    words = attr.replace(",", " ").split()
    last = re.sub(r"e?s$", "", words[-1]) if words[-1] not in (*SIZES, "tiny") else words[-1]
    if last in SHAPES or (last not in re.findall(r"\w+", MOD) and last not in SIZE_SYNONYMS):
        return words[:-1], last
    return words, "shape"


def attr_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "attr", text):
        if m["pl"]:
            continue  # `the circles are red` may mean some of them; `all` is checked instead
        mods, noun = _attr_words(m["attr"])
        ok = any(matches(a, mods, noun) for a in scene.select(m))
        out.append(Claim("attribute", m[0], ok, "no such object has that attribute"))
    return out


def all_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "all", text):
        objs = scene.select(m)
        mods, noun = _attr_words(m["attr"])
        ok = bool(objs) and all(matches(a, mods, noun) for a in objs)
        out.append(Claim("all", m[0], ok, "not every such object fits"))
    return out


_SIDE = {"left": "left", "right": "right", "above": "above", "over": "above", "on top of": "above"}
_SIDE |= {"below": "below", "beneath": "below", "under": "below", "underneath": "below"}


def _side(rel: str) -> str:
    rel = " ".join(rel.split()).removeprefix("to the ").removesuffix(" of")
    return _SIDE[rel]


def _holds(a: Annotation, side: str, b: Annotation) -> bool:
    """Lenient: centers ordered the right way (the writer itself states only strict ones)."""
    (ax, ay), (bx, by) = center(a), center(b)
    return {"left": ax < bx, "right": ax > bx, "above": ay < by, "below": ay > by}[side]


def relation_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "relation", text):
        pairs = [(a, b) for a in scene.select(m, "a") for b in scene.select(m, "b") if a is not b]
        if pairs:
            ok = any(_holds(a, _side(m["rel"]), b) for a, b in pairs)
            out.append(Claim("relation", m[0], ok, "the boxes say otherwise"))
    return out


def region_ok(a: Annotation, reg: str) -> bool:
    cx, cy = center(a)
    words = set(re.split(r"[- ]", reg.replace("upper", "top").replace("lower", "bottom")))
    mid = bool(words & {"center", "centre", "middle"})
    checks = [
        "top" not in words or cy < 0.5,
        "bottom" not in words or cy > 0.5,
        "left" not in words or cx < 0.5,
        "right" not in words or cx > 0.5,
        not mid or words & {"top", "bottom"} or 0.2 < cy < 0.8 or len(words) == 1,
        not mid or words & {"left", "right"} or 0.2 < cx < 0.8 or len(words) == 1,
        # A lone `middle` may mean the middle of a row or column: one axis central suffices.
        len(words) > 1 or not mid or 0.2 < cx < 0.8 or 0.2 < cy < 0.8,
    ]
    return all(checks)


def region_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "region", text):
        objs = scene.select(m)
        if objs:
            ok = any(region_ok(a, m["reg"]) for a in objs)
            out.append(Claim("region", m[0], ok, "it is elsewhere in the image"))
    return out


def superlative_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "closest", text):
        corner = m["corner"].replace(" ", "-").replace("upper", "top").replace("lower", "bottom")
        point = _CORNERS.get(corner, (0.5, 0.5))
        dists = {id(a): dist(center(a), point) for a in scene.anns}
        best = min(dists.values())
        ok = any(dists[id(a)] <= best + _TOL for a in scene.select(m))
        out.append(Claim("closest", m[0], ok, "another object is closer"))
    for m in find(g, "extreme", text):
        ext, picked = m["ext"], scene.select(m)
        axis = 0 if ext in ("leftmost", "rightmost") else 1
        sign = 1 if ext in ("leftmost", "topmost", "uppermost", "highest") else -1
        edge = axis + (2 if sign < 0 else 0)  # x1/y1 for left/top, x2/y2 for right/bottom
        ok = False
        for key in (
            [sign * center(a)[axis] for a in scene.anns],
            [sign * a.box[edge] for a in scene.anns],
        ):
            best = min(key)
            ok = ok or any(
                k <= best + _TOL for a, k in zip(scene.anns, key, strict=True) if a in picked
            )
        out.append(Claim("extreme", m[0], ok, f"another object is {ext}"))
    return out


def half_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "half", text):
        half = {"upper": "top", "lower": "bottom"}.get(m["half"], m["half"])
        axis, sign = (0, -1) if half == "left" else (0, 1) if half == "right" else (1, None)
        if axis == 1:
            sign = -1 if half == "top" else 1
        offs = [sign * (center(a)[axis] - 0.5) for a in scene.select(m)]
        n = num(m["num"])
        lo, hi = sum(o > 0.03 for o in offs), sum(o > -0.03 for o in offs)
        out.append(Claim("half", m[0], lo <= n <= hi, f"that half has {lo} to {hi}"))
    return out


def color_stat_claims(text: str, g, scene: Scene) -> list[Claim]:
    out = []
    counts = color_counts(scene.anns)
    for m in find(g, "common", text):
        ok = bool(counts) and counts[m["c"]] == max(counts.values())
        out.append(Claim("most common color", m[0], ok, f"colors: {dict(counts)}"))
    for m in find(g, "ncolors", text):
        if _prev_word(text, m) not in _COMPARATIVE:
            ok = num(m["num"]) <= len(counts)
            out.append(Claim("colors", m[0], ok, f"the image has {len(counts)} colors"))
    return out


def remain_claims(text: str, context: str, g, scene: Scene) -> list[Claim]:
    """`Removing the two red shapes would leave four shapes`: the removal may be in the
    question (`If the red shapes were removed, how many ...?`) and the number in the answer."""
    removed = find(g, "removed", text) or find(g, "removed", context)
    if not removed:
        return []
    said = find(g, "remaining", text)
    # A list may run on into the remainder (`without the two triangles, three shapes would
    # remain`): what overlaps a remaining-phrase is not part of what was removed.
    items = [
        n
        for r in removed
        for n in find(g, "np", r["list"])
        if r.string is not text
        or not any(
            r.start("list") + n.start() < s.end() and s.start() < r.start("list") + n.end()
            for s in said
        )
    ]
    gone = {id(a) for n in items for a in scene.select(n)}
    stated = sum(num(n["num"]) for n in items if n["num"]) if all(n["num"] for n in items) else None
    out = []
    for m in said:
        target = scene.select(m)
        left = sum(id(a) not in gone for a in target)
        ok = num(m["num"]) in {left, None if stated is None else len(target) - stated}
        out.append(Claim("remaining", m[0], ok, f"{left} would remain"))
    return out
