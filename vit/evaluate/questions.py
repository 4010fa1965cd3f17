"""Held-out probe questions with exact short answers, one question type per item.

    items = make_eval_set(test_records, seed=0, per_image=4)
    save_items(items, "data/eval/items.jsonl"); items = load_items("data/eval/items.jsonl")

Scenes give `count`, `color`, `shape`, `size`, `existence` and `position` items; digit
records give one `digit` item each. Every answer is read off the annotations through the
same helpers the grounded teacher uses (`vit.synth.backends.grounded.Facts`: `ref` names an
object uniquely, `strict_pairs` keeps only relations with no box overlap on their axis), so
an item is asked only when its answer is unambiguous.

Answer format: exact-match items are asked with the short-answer instruction appended
(`ANSWER_FORMAT`, the one the grounded writer's short rounds carry), as LLaVA-1.5 asks its
VQA benchmarks ("Answer the question using a single word or phrase."): the question says
what to look for, the instruction which of the model's learned answer styles to use. Asked
bare, the demo model answered in its conversation style ("Yes, there is one diamond.") and
scored 0.56 instead of 0.61 (README, "Tuning and evaluation"). `asked` builds the text.

Phrasing choice: the words are the training vocabulary (shape, color and size names, `object`,
`image`/`picture`), but the sentence templates are a held-out set that the grounded writer and
the digit source never produce, so the eval measures understanding rather than recall of
memorized questions. `tests/evaluate/test_questions.py` checks that no eval question occurs in
the training conversations, and that every scene answer passes the grounding validator.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vit.records import Annotation, Record, atomic_write_text
from vit.synth.backends.grounded import OPPOSITE_WORD, Facts, ask_attribute, ask_side
from vit.synth.backends.grounded_short import SHORT_PROMPT
from vit.synth.vocab import COLORS, SHAPES, SIZES, article, noun_of

QTYPES = ("count", "color", "shape", "size", "existence", "position", "digit")
DETAIL = "detail"  # free-text descriptions, scored with a text metric, not exact match
DETAIL_PROMPT = "Write a detailed description of this picture."
# The instruction appended to exact-match questions (params.yaml `evaluate.answer_format`;
# "" asks bare). For a real LLaVA-1.5 use its own: "Answer the question using a single word
# or phrase."
ANSWER_FORMAT = SHORT_PROMPT

# Held-out templates: none of them is a string the training writers emit.
COUNT_QS = ("How many {p} appear in this image?", "What is the number of {p} shown here?")
COLOR_QS = ("Which color is the {r} in this image?", "What color is the {r} shown here?")
SHAPE_QS = ("What kind of shape is the {r} object?", "What shape is the {r} object in this image?")
SIZE_QS = ("Is the {r} small or large?", "How large is the {r}?")
EXIST_QS = ("Could you find {a} {d} in this image?", "Does this picture show {a} {d}?")
POSITION_QS = {
    "x": ("Is the {ra} left or right of the {rb}?",),
    "y": ("Is the {ra} above or below the {rb}?",),
}
DIGIT_QS = ("Which handwritten digit is this?", "What digit can you see in this picture?")


@dataclass(frozen=True)
class EvalItem:
    """One probe: the image it is about, the question, the exact short answer."""

    id: str
    record_id: str
    image: str
    qtype: str
    question: str
    answer: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> EvalItem:
        return cls(**{k: str(d[k]) for k in cls.__dataclass_fields__})


def asked(item: EvalItem, answer_format: str = ANSWER_FORMAT) -> str:
    """The text put to the model for `item`: its question, then `answer_format` on a new
    line for exact-match types (a detail item asks for free text and gets none)."""
    if not answer_format or item.qtype == DETAIL:
        return item.question
    return f"{item.question}\n{answer_format}"


QA = tuple[str, str] | None


def count_qa(f: Facts) -> QA:
    """All shapes, one present shape, or (sometimes) an absent one: answer is a digit string."""
    # Mostly totals and present shapes; a few absent ones so "0" is a possible answer.
    present = sorted({noun_of(a) for a in f.anns})
    absent = [s for s in SHAPES if s not in present]
    roll = f.rng.random()
    noun = "shape" if roll < 0.4 else f.pick(absent) if absent and roll > 0.85 else f.pick(present)
    return f.pick(COUNT_QS).format(p=noun + "s"), str(f.count([], noun))


def color_qa(f: Facts) -> QA:
    return ask_attribute(f, "color", COLOR_QS)


def shape_qa(f: Facts) -> QA:
    return ask_attribute(f, "shape", SHAPE_QS)


def size_qa(f: Facts) -> QA:
    return ask_attribute(f, "size", SIZE_QS)


def existence_qa(f: Facts, want_yes: bool) -> QA:
    """`yes` names a present object (shape, colored shape); `no` a plausible absent one.
    Both name a color half the time: when only `no` items had one, a model shown gray
    images read the answer off the question (blind existence 0.69 against 0.50)."""
    if want_yes:
        a = f.pick(f.anns)
        mods = f.pick([[], [a.color]]) if a.color else []
        noun = noun_of(a)
    else:
        mods, noun = f.pick([[], [f.pick(list(COLORS))]]), f.pick(SHAPES)
        if f.count(mods, noun):
            return None
    d = " ".join([*mods, noun])
    return f.pick(EXIST_QS).format(a=article(d), d=d), "yes" if want_yes else "no"


def position_qa(f: Facts, balance: Counter | None = None) -> QA:
    """Left/right or above/below of a strict pair. With `balance` (answers given so far) the
    pair is asked in the order whose answer is the rarer one on its axis: left as often as
    right, above as often as below. Unbalanced, a test + val set of 74 above/below items had
    44 `below`, so a model that mostly said `below` scored 0.55-0.58 on them and one that
    said `above` 0.38-0.41, a 1.3-point swing overall from a coin (README, active learning).
    The swap draws no random numbers, so every other item stays the same."""
    if balance is None:
        return ask_side(f, POSITION_QS)
    qa = ask_side(f, POSITION_QS, flip=lambda word: balance[word] > balance[OPPOSITE_WORD[word]])
    if qa is not None:
        balance[qa[1]] += 1
    return qa


SCENE_ASKERS: dict[str, Callable[[Facts], QA]] = {
    "count": count_qa,
    "color": color_qa,
    "shape": shape_qa,
    "size": size_qa,
    "position": position_qa,
}


FIRST_PASS = (*SCENE_ASKERS, "existence")  # the scene types, one item each at most


def is_digit_record(r: Record) -> bool:
    return r.source == "digits" or (
        len(r.annotations) == 1
        and r.annotations[0].box is None
        and r.annotations[0].label.isdigit()
    )


def _scene_items(
    r: Record, f: Facts, per_image: int, used: Counter, balance: Counter
) -> list[EvalItem]:
    """Up to `per_image` items of distinct types, the types least used so far first, so the
    set stays balanced across types; existence alternates yes/no over the whole set, and
    position left/right and above/below (`balance` counts the answers)."""
    order = sorted(FIRST_PASS, key=lambda t: (used[t], f.rng.random()))
    items: list[EvalItem] = []
    for qtype in order:
        if len(items) >= per_image:
            break
        qa = _ask(f, qtype, balance)
        if qa is None:
            continue
        if qtype == "existence":
            balance[qa[1]] += 1
        used[qtype] += 1
        items.append(EvalItem(f"{r.id}:{qtype}", r.id, r.image or "", qtype, *qa))
    return items


def _ask(f: Facts, qtype: str, balance: Counter) -> QA:
    """One `qtype` question about the scene: existence asks the answer `balance` has had
    less of (yes or no), position balances each axis (and counts its answer in `balance`)."""
    if qtype == "existence":
        want_yes = balance["yes"] <= balance["no"]
        return existence_qa(f, want_yes) or existence_qa(f, not want_yes)
    if qtype == "position":
        return position_qa(f, balance)
    return SCENE_ASKERS[qtype](f)


def _digit_item(r: Record, rng: np.random.Generator) -> EvalItem:
    label = str(r.metadata.get("target", r.annotations[0].label))
    q = DIGIT_QS[int(rng.integers(len(DIGIT_QS)))]
    return EvalItem(f"{r.id}:digit", r.id, r.image or "", "digit", q, label)


def boxed(r: Record) -> list[Annotation]:
    """The record's objects that have a box (the ones probes and crowding count)."""
    return [a for a in r.annotations if a.box is not None]


def make_eval_set(records: Iterable[Record], seed: int = 0, per_image: int = 4) -> list[EvalItem]:
    """Probe items for held-out records (pass the test split). Records without an image or
    without boxed annotations (and not digits) give nothing. Deterministic for a seed.

    A scene gives at most one item per type (six) in the first pass; `per_image` above
    that asks further items of each type about other objects, counts and pairs
    (`_MoreItems`), from their own random stream, so its first-pass items are the very items
    `per_image` 6 asks: a denser set contains that standard set item for item (not a set of
    fewer than 6 per scene, whose first pass stops early and draws differently)."""
    rng = np.random.default_rng(seed)
    used: Counter = Counter()
    balance: Counter = Counter()
    more = _MoreItems(seed)
    items: list[EvalItem] = []
    for r in records:
        if not r.image:
            continue
        if is_digit_record(r):
            items.append(_digit_item(r, rng))
        elif anns := boxed(r):
            first = _scene_items(r, Facts(anns, rng), per_image, used, balance)
            items += first + more(r, anns, first, per_image)
    return items


# The words that name a fact: attributes, nouns, and one word per position axis.
_FACT_WORDS = frozenset([*COLORS, *SHAPES, *SIZES, "shape", "left", "above"])
MORE_TRIES = 4  # draws per type and pass before a type is taken to have no new fact left


def fact_key(item: EvalItem) -> tuple[str, tuple[str, ...]]:
    """What an item asks about, whatever its template and (for position) its order: its
    type and the vocabulary words of its question (`red circle`, `stars`). Two items with
    one key ask the same fact, which would count one answer twice. A size question names
    its object without a size and its templates use size words of their own ("small or
    large", "How large"), so those are left out of its key."""
    words = [w.strip("?.,").lower() for w in item.question.split()]
    facts = filter(None, map(_fact_word, words))
    if item.qtype == "size":
        facts = (w for w in facts if w not in SIZES)
    return item.qtype, tuple(sorted(facts))


def _fact_word(w: str) -> str | None:
    """`w` as a fact word, a plural (`circles`) as its singular; None otherwise."""
    for cand in (w, w.removesuffix("s")):
        if cand in _FACT_WORDS:
            return cand
    return None


class _MoreItems:
    """The items past a scene's first pass: more of each type, each about a fact the scene
    has not been asked yet, the types least used so far first, existence and the position
    axes balanced over these items alone (so they leave the first pass untouched)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 1])
        self.used: Counter = Counter()
        self.balance: Counter = Counter()

    def __call__(
        self, r: Record, anns: list[Annotation], first: list[EvalItem], per_image: int
    ) -> list[EvalItem]:
        if per_image <= len(FIRST_PASS):
            return []  # the standard set: one item per type at most, nothing drawn here
        f, out = Facts(anns, self.rng), []
        seen = {fact_key(i) for i in first}
        for n in range(2, per_image + 1):
            added = False
            # Least used first; ties in FIRST_PASS order (no draw: the stream stays the facts').
            for qtype in sorted(FIRST_PASS, key=lambda t: self.used[t]):
                if len(first) + len(out) >= per_image:
                    return out
                item = self._new(r, f, qtype, n, seen)
                if item is not None:
                    seen.add(fact_key(item))
                    self.used[qtype] += 1
                    out.append(item)
                    added = True
            if not added:
                break
        return out

    def _new(
        self, r: Record, f: Facts, qtype: str, n: int, seen: set[tuple[str, tuple[str, ...]]]
    ) -> EvalItem | None:
        """A `qtype` item about a fact not in `seen`, or None after MORE_TRIES draws."""
        for _ in range(MORE_TRIES):
            qa = _ask(f, qtype, self.balance)
            if qa is None:
                continue
            item = EvalItem(f"{r.id}:{qtype}:{n}", r.id, r.image or "", qtype, *qa)
            if fact_key(item) not in seen:
                if qtype == "existence":
                    self.balance[qa[1]] += 1
                return item
            if qtype == "position":
                self.balance[qa[1]] -= 1  # position_qa counted an answer not asked
        return None


def make_detail_set(records: Iterable[Record], seed: int = 0) -> list[EvalItem]:
    """One `detail` item per scene: the grounded writer's description is the reference text."""
    from vit.synth.backends.grounded import detail

    rng = np.random.default_rng(seed)
    out = []
    for r in records:
        if r.image and not is_digit_record(r) and (anns := boxed(r)):
            ref = detail(Facts(anns, rng))
            out.append(EvalItem(f"{r.id}:{DETAIL}", r.id, r.image, DETAIL, DETAIL_PROMPT, ref))
    return out


def type_counts(items: Iterable[EvalItem]) -> dict[str, int]:
    counts = Counter(i.qtype for i in items)
    return {t: counts[t] for t in (*QTYPES, DETAIL) if counts[t]}


def _jsonl(items: Iterable[EvalItem]) -> str:
    return "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in items)


def items_fingerprint(items: Iterable[EvalItem]) -> str:
    """A short hash of the items (ids, questions, answers): scores are comparable only when
    it is equal, and a round scored on another set is scored again (vit.active.loop)."""
    return hashlib.sha256(_jsonl(items).encode()).hexdigest()[:16]


def save_items(items: Iterable[EvalItem], path: Path | str) -> Path:
    """The eval set as JSONL (one item a line), written atomically: a DVC-tracked artifact."""
    text = _jsonl(items)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return Path(path)


def load_items(path: Path | str) -> list[EvalItem]:
    lines = Path(path).read_text().splitlines()
    return [EvalItem.from_dict(json.loads(line)) for line in lines if line.strip()]
