"""Exact-match accuracy per question type, the majority baseline, and a text metric.

The exact-match rule (deterministic, no judgement):

1. `normalize_answer(text)`: lowercase; apostrophes dropped (`don't` -> `dont`); every other
   non-alphanumeric character becomes a space; number words become digits (`two` -> `2`);
   articles (`a`, `an`, `the`) are removed. A leading yes/no word (`yes`, `yeah`, `yep`,
   `no`, `nope`) is the whole answer: `Yes, there is.` -> `yes`.
2. `normalize_answer(text, qtype)` extracts the answer word for a question type: the tokens of
   the type's answer vocabulary (count: integers, with `no`/`none` = 0; color: the 8 scene
   colors; shape: the 5 shapes, plurals folded; size: small/large with big/tiny/little folded;
   existence: yes/no; position: left/right/above/below; digit: 0-9). If exactly one distinct
   vocabulary word occurs, it is the answer (`It is red.` -> `red`, `The digit is 7.` -> `7`,
   `There are two circles.` -> `2`). If none or several distinct ones occur (`left or right`),
   the normalized text itself is the answer, which matches only a gold answer equal to it, so
   hedging across options never scores.
3. `exact_match(pred, gold, qtype)` compares the two after step 2.

Detailed descriptions are scored with ROUGE-L F1 (`rouge_l`): Google's `rouge-score` package
when installed (the reference implementation), else the same LCS F-measure computed here with
that package's default tokenizer (lowercase, alphanumeric tokens, no stemming).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from vit.evaluate.questions import EvalItem
from vit.synth.vocab import COLORS, NUMBERS, SHAPES, SIZE_SYNONYMS, SIZES

ARTICLES = frozenset({"a", "an", "the"})
YES_NO = {"yes": "yes", "yeah": "yes", "yep": "yes", "no": "no", "nope": "no"}
POSITION_WORDS = {
    "left": "left",
    "right": "right",
    "above": "above",
    "below": "below",
    "under": "below",
    "beneath": "below",
    "underneath": "below",
}
_PLURAL_SHAPES = {s + "s": s for s in SHAPES}


def tokens(text: str) -> list[str]:
    """Lowercased alphanumeric tokens, number words as digits, articles removed."""
    text = str(text or "").lower().replace("\u2019", "'").replace("'", "")
    out = []
    for t in re.sub(r"[^a-z0-9]+", " ", text).split():
        if t in ARTICLES:
            continue
        out.append(str(NUMBERS[t]) if t in NUMBERS else t)
    return out


def _count_word(t: str) -> str | None:
    if t.isdigit():
        return str(int(t))
    return "0" if t in ("no", "none") else None


def _vocab_word(t: str, qtype: str) -> str | None:
    """The answer word token `t` stands for under `qtype`, or None."""
    if qtype == "count":
        return _count_word(t)
    if qtype == "digit":
        return t if len(t) == 1 and t.isdigit() else None
    if qtype == "existence":
        return YES_NO.get(t)
    if qtype == "color":
        return t if t in COLORS else None
    if qtype == "shape":
        return t if t in SHAPES else _PLURAL_SHAPES.get(t)
    if qtype == "size":
        t = SIZE_SYNONYMS.get(t, t)
        return t if t in SIZES else None
    if qtype == "position":
        return POSITION_WORDS.get(t)
    return None


def normalize_answer(text: str, qtype: str | None = None) -> str:
    """The canonical answer string (see the module docstring for the rule)."""
    toks = tokens(text)
    if qtype is not None:
        found = {w for t in toks if (w := _vocab_word(t, qtype)) is not None}
        if len(found) == 1:
            return found.pop()
    elif toks and toks[0] in YES_NO:
        return YES_NO[toks[0]]
    return " ".join(toks)


def exact_match(pred: str, gold: str, qtype: str | None = None) -> bool:
    return normalize_answer(pred, qtype) == normalize_answer(gold, qtype)


def _score(n: int, correct: int) -> dict[str, Any]:
    return {"n": n, "correct": correct, "accuracy": round(correct / n, 4) if n else 0.0}


def _aligned(items: Sequence[EvalItem], preds: Sequence[str] | Mapping[str, str]) -> list[str]:
    """Predictions in item order: a list aligned with the items, or a dict by item id."""
    if isinstance(preds, Mapping):
        return [preds.get(i.id, "") for i in items]
    if len(preds) != len(items):
        raise ValueError(f"{len(preds)} predictions for {len(items)} items")
    return list(preds)


def _correct_by(
    items: Sequence[EvalItem],
    preds: Sequence[str] | Mapping[str, str],
    group: Callable[[EvalItem], str | None],
) -> tuple[Counter, Counter]:
    """(items, correct) per `group(item)`; `detail` items and items grouped None are left out
    (a description has no exact answer: see `rouge_l`)."""
    n, ok = Counter(), Counter()
    for item, pred in zip(items, _aligned(items, preds), strict=True):
        key = group(item)
        if item.qtype == "detail" or key is None:
            continue
        n[key] += 1
        ok[key] += exact_match(pred, item.answer, item.qtype)
    return n, ok


def accuracy_by_type(
    items: Sequence[EvalItem], preds: Sequence[str] | Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """{qtype: {n, correct, accuracy}, "overall": {n, correct, accuracy, macro_accuracy}}.
    `detail` items are left out: they have no exact answer (see `rouge_l`)."""
    n, ok = _correct_by(items, preds, lambda item: item.qtype)
    out = {t: _score(n[t], ok[t]) for t in sorted(n)}
    overall = _score(sum(n.values()), sum(ok.values()))
    accs = [v["accuracy"] for v in out.values()]
    overall["macro_accuracy"] = round(sum(accs) / len(accs), 4) if accs else 0.0
    return {**out, "overall": overall}


# Bands of a scene's object count (upper bound inclusive); the embedded scenes are long-tailed,
# so the crowded bands are where a model (and a data selection) can differ most.
CROWDING = ((1, "1"), (3, "2-3"), (6, "4-6"))
CROWDED = f"{CROWDING[-1][0] + 1}+"
BANDS = (*(name for _, name in CROWDING), CROWDED)


def crowding_band(n_objects: int) -> str:
    """The band of a scene with `n_objects` boxed objects: "1", "2-3", "4-6" or "7+"."""
    return next((name for hi, name in CROWDING if n_objects <= hi), CROWDED)


def accuracy_by_crowding(
    items: Sequence[EvalItem],
    preds: Sequence[str] | Mapping[str, str],
    n_objects: Mapping[str, int],
) -> dict[str, dict[str, Any]]:
    """{band: {n, correct, accuracy}} by the object count of each item's scene
    (`n_objects[record_id]`); items of records without a count (digits) are left out."""

    def band(item: EvalItem) -> str | None:
        k = n_objects.get(item.record_id)
        return None if not k else crowding_band(k)

    n, ok = _correct_by(items, preds, band)
    return {b: _score(n[b], ok[b]) for b in BANDS if n[b]}


# Questions that name one object and ask one of its attributes; with several values to
# choose from, a wrong answer says whether the model saw the value but bound it wrongly.
BOUND_ATTRIBUTES = ("color", "shape")


def attribute_errors(
    items: Sequence[EvalItem],
    preds: Sequence[str] | Mapping[str, str],
    scene_values: Mapping[str, Mapping[str, set[str]]],
) -> dict[str, dict[str, Any]]:
    """What color and shape answers about scenes of two or more objects named:
    {qtype: {n, right, other_object, absent, other_object_share}}. `other_object`: wrong,
    but a value another object in the scene has (the model saw it and tied it to the wrong
    object: a binding error); `absent`: no object there has it (not seen, or off format).
    `scene_values[record_id][qtype]` holds the scene's values; other records are left out."""
    out: dict[str, Counter] = {t: Counter() for t in BOUND_ATTRIBUTES}
    for item, pred in zip(items, _aligned(items, preds), strict=True):
        values = scene_values.get(item.record_id, {}).get(item.qtype)
        if item.qtype not in out or not values:
            continue
        said = normalize_answer(pred, item.qtype)
        kind = (
            "right"
            if said == normalize_answer(item.answer, item.qtype)
            else "other_object"
            if said in values
            else "absent"
        )
        out[item.qtype][kind] += 1
        out[item.qtype]["n"] += 1
    return {
        t: {
            **{k: c[k] for k in ("n", "right", "other_object", "absent")},
            "other_object_share": round(c["other_object"] / max(c["n"] - c["right"], 1), 4),
        }
        for t, c in out.items()
        if c["n"]
    }


def majority_answers(train: Iterable[EvalItem | tuple[str, str]]) -> dict[str, str]:
    """The most frequent normalized answer per question type (ties: alphabetical), plus the
    most frequent overall under the key "*" for types the training data never asks."""
    per: dict[str, Counter] = {}
    for x in train:
        qtype, ans = (x.qtype, x.answer) if isinstance(x, EvalItem) else x
        per.setdefault(qtype, Counter())[normalize_answer(ans, qtype)] += 1
    pick = {t: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for t, c in per.items()}
    total = sum(per.values(), Counter())
    pick["*"] = min(total.items(), key=lambda kv: (-kv[1], kv[0]))[0] if total else ""
    return pick


def majority_baseline(
    train: Iterable[EvalItem | tuple[str, str]], test: Sequence[EvalItem]
) -> dict[str, dict[str, Any]]:
    """Accuracy on `test` of always answering the TRAIN majority for each question type."""
    maj = majority_answers(train)
    return accuracy_by_type(test, [maj.get(i.qtype, maj["*"]) for i in test])


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _rouge_l_local(pred: str, ref: str) -> float:
    p, r = re.findall(r"[a-z0-9]+", pred.lower()), re.findall(r"[a-z0-9]+", ref.lower())
    lcs = _lcs(p, r)
    if not lcs:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)


def rouge_l(preds: Sequence[str], refs: Sequence[str]) -> dict[str, Any]:
    """Mean ROUGE-L F1 of predictions against references, and which implementation ran."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions for {len(refs)} references")
    try:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        scores = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(preds, refs, strict=True)]
        impl = "rouge-score"
    except ImportError:
        scores = [_rouge_l_local(p, r) for p, r in zip(preds, refs, strict=True)]
        impl = "local-lcs"
    mean = sum(scores) / len(scores) if scores else 0.0
    return {"n": len(scores), "rouge_l": round(mean, 4), "impl": impl}
