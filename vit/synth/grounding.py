"""The grounding validator: every checkable claim of a generated answer against the annotations.

    verdict = validate(turns, record.annotations, mode="drop")

`turns` are (question, answer) pairs. A false claim drops the whole conversation
(`mode="drop"`) or only its turn (`mode="trim"`); `mode="off"` checks nothing. Reasons are
recorded as `turn 2: count 'three red circles': the image has 2`. The claim grammar is in
`vit.synth.claims`, one check per kind in `vit.synth.checks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vit.records import Annotation
from vit.synth import checks
from vit.synth.claims import (
    HYPO,
    NEG,
    NO,
    NUM,
    YES,
    Claim,
    Scene,
    clauses,
    find,
    grammar_for,
    normalize,
    num,
    sentences,
)
from vit.synth.vocab import COLORS, SHAPES, SIZE_SYNONYMS, SIZES, relation_holds

MODES = ("drop", "trim", "off")
# Words a question may end with and still ask about the whole image (no `on the left`).
_OPEN_TAIL = frozenset(
    re.findall(
        r"\w+",
        "are is there can do you see spot count find notice be seen visible shown present does "
        "the this image picture scene photo contain show have include in on here anywhere at all "
        "total altogether overall i appear used colors colours shapes objects of kinds types",
    )
)
# An answer-format line after the question (`Answer each question with a single word.`).
_FORMAT = re.compile(r"\s*answer (?:each|the|this) question\b[^?]*$")
_ZERO = re.compile(r"^\W*(?:no|none|zero|nope)\b")
_INTERJECTION = re.compile(r"^\W*(?:yes|no|yeah|nope|indeed|correct)\b\W*")
_AFFIRMATIVE = (
    checks.count_claims,
    checks.exist_claims,
    checks.attr_claims,
    checks.all_claims,
    checks.relation_claims,
    checks.region_claims,
    checks.superlative_claims,
    checks.half_claims,
    checks.color_stat_claims,
)


@dataclass
class Verdict:
    keep: bool
    turns: list[tuple[str, str]]
    reasons: list[str] = field(default_factory=list)
    claims: int = 0
    false_claims: int = 0
    trimmed: int = 0


def _open(tail: str | None) -> bool:
    return all(w in _OPEN_TAIL for w in re.findall(r"[a-z']+", tail or ""))


def _first_clause(answer: str) -> str:
    parts = sentences(answer)
    return _INTERJECTION.sub("", clauses(parts[0])[0]) if parts else ""


def _words(text: str, vocab) -> set[str]:
    found = re.findall(r"\b(" + "|".join(vocab) + r")(?:e?s)?\b", text)
    return {SIZE_SYNONYMS.get(w, w) for w in found}


def _mentioned_claim(kind, m, answer, vocab, have: set[str]) -> list[Claim]:
    said = _words(_first_clause(answer), vocab)
    if not said or NEG.search(_first_clause(answer)):
        return []
    extra = said - have
    return [Claim(kind, m[0], not extra, f"{sorted(extra)} not in the image")]


def _yes_no(q: str, a: str, g, scene: Scene) -> list[Claim]:
    yes, no = bool(YES.search(a)), bool(NO.search(a))
    out = []
    for m in find(g, "q_exist", q):
        if _open(m["tail"]) and yes != no:
            found = bool(scene.select(m))
            out.append(Claim("yes/no exists", f"{m[0]} {'yes' if yes else 'no'}", found == yes))
    for m in find(g, "q_relation", q):
        pairs = [(x, y) for x in scene.select(m, "a") for y in scene.select(m, "b") if x is not y]
        if pairs and yes != no:
            side = checks._side(m["rel"])
            holds = any(checks._holds(x, side, y) for x, y in pairs) if yes else True
            strict = all(_strict(x, side, y) for x, y in pairs)
            out.append(Claim("yes/no relation", m[0], holds if yes else not strict))
    return out + _yes_no_compare(q, yes, no, g, scene) if yes != no else out


def _yes_no_compare(q: str, yes: bool, no: bool, g, scene: Scene) -> list[Claim]:
    """Yes/no to `is the A bigger than the B`, `are there more A than B`, `same color`."""
    out = []
    for m in find(g, "q_bigger", q):
        a, b = scene.select(m, "a"), scene.select(m, "b")
        if len(a) == len(b) == 1 and a[0] is not b[0] and a[0].size and b[0].size:
            big, small = (a[0], b[0]) if m["cmp"] != "smaller" else (b[0], a[0])
            truth = big.size == "large" and small.size == "small"
            out.append(Claim("yes/no size", m[0], truth == yes, "the sizes say otherwise"))
    for m in find(g, "q_more", q):
        truth = len(scene.select(m, "a")) > len(scene.select(m, "b"))
        out.append(Claim("yes/no more", m[0], truth == yes, "the counts say otherwise"))
    for m in find(g, "q_same_color", q):
        colors = scene.colors()
        if colors and all(x.color for x in scene.anns):
            truth = len(colors) == 1
            out.append(Claim("yes/no same color", m[0], truth == yes, f"colors: {sorted(colors)}"))
    return out


def _strict(a: Annotation, side: str, b: Annotation) -> bool:
    rel = {"left": "to the left of", "right": "to the right of"}.get(side, side)
    return relation_holds(a, rel, b)


def _how_many(q: str, a: str, g, scene: Scene) -> list[Claim]:
    out = []
    for m in find(g, "q_howmany", q):
        first = _first_clause(a)
        said = {0} if _ZERO.search(a) else {num(w) for w in re.findall(rf"\b{NUM}\b", first)}
        # Several numbers (`one large and two small`) is a breakdown: the answer's own count
        # phrases are checked instead.
        if _open(m["tail"]) and len(said) == 1:
            n, k = said.pop(), len(scene.select(m))
            out.append(Claim("how many", f"{m[0]} -> {n}", n == k, f"the image has {k}"))
    return out


_ASKED = (("q_color", COLORS, "color"), ("q_shape", SHAPES, "shape"))
_ASKED += (("q_size", (*SIZES, *SIZE_SYNONYMS), "size"),)


_SIDE_WORDS = {"left": "left", "right": "right", "above": "above", "below": "below"}
_SIDE_WORDS |= {"higher": "above", "lower": "below", "under": "below", "beneath": "below"}


def _side_choice(q: str, a: str, g, scene: Scene) -> list[Claim]:
    """`Is the A left or right of the B?` -> `left`: true only when it holds strictly."""
    out = []
    said = {_SIDE_WORDS[w] for w in re.findall(r"\b(" + "|".join(_SIDE_WORDS) + r")\b", a)}
    for m in find(g, "q_side", q):
        pairs = [(x, y) for x in scene.select(m, "a") for y in scene.select(m, "b") if x is not y]
        if len(said) == 1 and pairs:
            side = next(iter(said))
            holds = all(_strict(x, side, y) for x, y in pairs)
            out.append(Claim("side", f"{m[0]} -> {side}", holds, "the boxes say otherwise"))
    return out


def question_claims(q: str, a: str, g, scene: Scene) -> list[Claim]:
    """Claims that need the question: yes/no, `how many`, `what color is the ...`, `left or
    right`, and what the question presupposes (`the red circle` exists)."""
    out = _yes_no(q, a, g, scene) + _how_many(q, a, g, scene) + _side_choice(q, a, g, scene)
    for kind, vocab, attr in _ASKED:
        for m in find(g, kind, q):
            have = {getattr(x, attr) for x in scene.select(m)} - {None}
            if _open(m["tail"]) and have:
                out += _mentioned_claim(f"{attr} of", m, a, vocab, have)
    for kind, vocab, have in (
        ("q_colors", COLORS, scene.colors()),
        ("q_shapes", SHAPES, {x.shape for x in scene.anns}),
    ):
        for m in find(g, kind, q):
            if _open(m["tail"]):
                out += _mentioned_claim(kind[2:], m, a, vocab, have)
    if not HYPO.search(q):
        for m in find(g, "q_definite", q):
            if m["pl"] and not m["num"]:
                continue  # `count the triangles` presupposes nothing; `the triangle` does
            k, n = len(scene.select(m)), num(m["num"]) if m["num"] else 1
            out.append(Claim("presupposed", m[0], k >= n, f"the image has {k}"))
    return out


def answer_claims(q: str, a: str, g, scene: Scene) -> list[Claim]:
    """Claims of the answer alone, clause by clause. Hypothetical sentences only feed the
    `what would remain` check; negated clauses only the absence checks."""
    out = []
    for sent in sentences(a):
        if HYPO.search(sent):
            out += checks.remain_claims(sent, q, g, scene)
            continue
        for clause in clauses(sent):
            clause = _INTERJECTION.sub("", clause)
            out += checks.absent_claims(clause, g, scene)
            if not NEG.search(clause):
                for check in _AFFIRMATIVE:
                    out += check(clause, g, scene)
    return out


def claims_of(question: str, answer: str, anns: list[Annotation]) -> list[Claim]:
    """Every claim found in one turn, each with `ok` judged on `anns`."""
    scene, g = Scene(tuple(anns)), grammar_for(anns)
    q, a = _FORMAT.sub("", normalize(question or "")), normalize(answer or "")
    return question_claims(q, a, g, scene) + answer_claims(q, a, g, scene)


def validate(turns: list[tuple[str, str]], anns: list[Annotation], mode: str = "drop") -> Verdict:
    """Keep, trim or drop a generated conversation by the truth of its claims."""
    if mode not in MODES:
        raise ValueError(f"validator mode must be one of {MODES}, got {mode!r}")
    if mode == "off":
        return Verdict(keep=bool(turns), turns=list(turns))
    kept, reasons, n_claims, n_false = [], [], 0, 0
    for i, (q, a) in enumerate(turns):
        found = claims_of(q, a, anns)
        bad = [c for c in found if not c.ok]
        n_claims, n_false = n_claims + len(found), n_false + len(bad)
        reasons += [f"turn {i}: {c.kind} '{c.phrase}': {c.why}".rstrip(": ") for c in bad]
        if not bad:
            kept.append((q, a))
    trimmed = len(turns) - len(kept)
    keep = bool(kept) and (trimmed == 0 or mode == "trim")
    return Verdict(keep, kept if keep else [], reasons, n_claims, n_false, trimmed)
