"""`vit eval`: greedy answers on the held-out split, accuracy per question type, baselines.

    vit eval --model data/model/final --data data/deduped/scenes --out data/eval

Baselines in the same report: the majority answer per type (learned on the train split's
questions) and, when given, the model after stage 1 only (before instruction tuning).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vit.evaluate.metrics import (
    BOUND_ATTRIBUTES,
    accuracy_by_crowding,
    accuracy_by_type,
    attribute_errors,
    majority_baseline,
)
from vit.evaluate.questions import (
    ANSWER_FORMAT,
    EvalItem,
    asked,
    boxed,
    items_fingerprint,
    make_eval_set,
    save_items,
    type_counts,
)
from vit.evaluate.report import (
    evaluate,
    plot_by_type,
    predict,
    write_json,
    write_plots_data,
    write_predictions,
)
from vit.records import Dataset, Record


def _split(ds: Dataset, *names: str) -> list:
    """Records of the named splits (in dataset order)."""
    return [r for r in ds if r.split in names]


def held_out_items(
    ds: Dataset, splits: Sequence[str], per_image: int = 4, limit: int | None = None, seed: int = 0
) -> list[EvalItem]:
    """The probe items `evaluate_model` asks on `splits` of `ds` (deterministic)."""
    return make_eval_set(_split(ds, *splits), seed=seed, per_image=per_image)[:limit]


def object_counts(records: Iterable[Record]) -> dict[str, int]:
    """Boxed objects per record id: the scene's crowding (records without boxes: none)."""
    return {r.id: len(boxed(r)) for r in records}


def scene_values(records: Iterable[Record]) -> dict[str, dict[str, set[str]]]:
    """Per record of two or more boxed objects: the colors and shapes its objects have."""
    out = {}
    for r in records:
        objs = boxed(r)
        if len(objs) >= 2:
            out[r.id] = {
                t: {getattr(a, t) for a in objs if getattr(a, t)} for t in BOUND_ATTRIBUTES
            }
    return out


def _blind_answers(ask, items, answer_format: str) -> list[str]:
    from PIL import Image

    gray = Image.new("RGB", (64, 64), (128, 128, 128))
    return [ask(gray, asked(it, answer_format)) for it in items]


def _model_fn(path: str | Path, max_new_tokens: int):
    from vit.model.answer import answerer
    from vit.model.build import load_model

    model, processor = load_model(str(path))
    return answerer(model, processor, max_new_tokens)


def evaluate_model(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    stage1_model: str | Path | None = None,
    split: str | Sequence[str] = "test",
    per_image: int = 4,
    limit: int | None = None,
    seed: int = 0,
    max_new_tokens: int = 16,
    metrics_path: str | Path | None = None,
    blind: bool = True,
    answer_format: str = ANSWER_FORMAT,
) -> dict[str, Any]:
    """Score `model` on `split` of `data` (a split name, or several: their records together);
    write report, predictions and plots under `out`.

    `blind` adds the same model answering with every image replaced by flat gray: where it
    scores as well as with the real images, the model answers from the language prior and
    does not look (the usual first failure of a VLM trained from scratch). Every model is
    asked the same text: `answer_format` appended to exact-match questions (questions.asked)."""
    ds, out = Dataset.open(data), Path(out)
    splits = [split] if isinstance(split, str) else list(split)
    held_out = _split(ds, *splits)
    items = held_out_items(ds, splits, per_image, limit, seed)
    if not items:
        raise ValueError(f"{data}: no evaluable records in split {split!r}")
    train_items = make_eval_set(_split(ds, "train"), seed=seed + 1, per_image=per_image)
    baselines = {"majority": majority_baseline(train_items, items)}
    if stage1_model:
        s1 = predict(_model_fn(stage1_model, max_new_tokens), items, ds.image_root, answer_format)
        baselines["stage1"] = accuracy_by_type(items, s1)
    ask = _model_fn(model, max_new_tokens)
    if blind:
        baselines["blind"] = accuracy_by_type(items, _blind_answers(ask, items, answer_format))
    preds: list[str] = []
    report = evaluate(ask, items, baselines, ds.image_root, preds, answer_format)
    report["splits"] = splits
    report["eval_set"] = items_fingerprint(items)
    report["item_types"] = type_counts(items)
    report["by_objects"] = accuracy_by_crowding(items, preds, object_counts(held_out))
    report["attribute_errors"] = attribute_errors(items, preds, scene_values(held_out))
    save_items(items, out / "items.jsonl")
    write_predictions(items, preds, out / "predictions.jsonl")
    write_plots_data(report, out / "plots")
    plot_by_type(report, out / "accuracy_by_type.png")
    write_json(report, metrics_path or out / "eval.json")
    return report
