"""Run a model over the probe items and report it beside its baselines; plots for people and DVC.

    report = evaluate(answer_fn, items, {"majority": majority_baseline(train, items),
                                         "stage1": evaluate(stage1_fn, items)["models"]["tuned"]},
                      image_root=Path("data/deduped/scenes"))
    write_json(report, "metrics/eval.json")               # dvc metrics
    write_plots_data(report, "plots/eval")                # dvc plots (bar per type)
    plot_by_type(report, "plots/eval_by_type.png"); plot_loss(history, "plots/loss.png")

`answer_fn(image, question) -> str` is any callable: a tuned LLaVA's greedy answer, a stub in
tests. The report shape (also what `metrics/eval.json` holds):

    {"n_items": N, "types": [...], "models": {"tuned": {qtype: {n, correct, accuracy}, ...,
     "overall": {...}}, "majority": {...}, "stage1": {...}},
     "by_type": {qtype: {"n": n, "tuned": acc, "majority": acc, ...}},
     "overall": {"tuned": acc, "majority": acc, ...}, "detail": {n, rouge_l, impl}}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vit import records
from vit.evaluate.metrics import accuracy_by_crowding, accuracy_by_type, rouge_l
from vit.evaluate.questions import ANSWER_FORMAT, DETAIL, QTYPES, EvalItem, asked

AnswerFn = Callable[[Image.Image, str], str]
TUNED = "tuned"


def load_image(item: EvalItem, image_root: Path | str | None) -> Image.Image:
    """The item's image as RGB; the path is resolved safely under `image_root`."""
    return records.open_rgb(item.image, item.record_id, image_root)


def predict(
    answer_fn: AnswerFn,
    items: Sequence[EvalItem],
    image_root: Path | str | None = None,
    answer_format: str = ANSWER_FORMAT,
) -> list[str]:
    """One answer per item, in order, each asked as `asked(item, answer_format)`; images are
    opened once per record."""
    cache: dict[str, Image.Image] = {}
    out = []
    for item in items:
        if item.image not in cache:
            cache.clear()  # items of one record are adjacent: keep only the current image
            cache[item.image] = load_image(item, image_root)
        out.append(str(answer_fn(cache[item.image], asked(item, answer_format)) or ""))
    return out


def compare(models: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Side-by-side tables from `{model: accuracy_by_type(...)}`."""
    types = [t for t in QTYPES if any(t in m for m in models.values())]
    types += sorted({t for m in models.values() for t in m} - {*types, "overall"})
    by_type = {}
    for t in types:
        n = next(m[t]["n"] for m in models.values() if t in m)
        by_type[t] = {"n": n, **{name: m[t]["accuracy"] for name, m in models.items() if t in m}}
    overall = {name: m["overall"]["accuracy"] for name, m in models.items() if "overall" in m}
    return {"types": types, "models": models, "by_type": by_type, "overall": overall}


def evaluate(
    answer_fn: AnswerFn,
    items: Sequence[EvalItem],
    baselines: dict[str, dict] | None = None,
    image_root: Path | str | None = None,
    predictions: list[str] | None = None,
    answer_format: str = ANSWER_FORMAT,
) -> dict[str, Any]:
    """Score `answer_fn` ("tuned") on `items` and put `baselines` (each an `accuracy_by_type`
    result on the same items) beside it. `detail` items get ROUGE-L instead of exact match.
    Pass a list as `predictions` to receive the raw answers (for review of wrong ones)."""
    preds = predict(answer_fn, items, image_root, answer_format)
    if predictions is not None:
        predictions[:] = preds
    report = compare({TUNED: accuracy_by_type(items, preds), **(baselines or {})})
    details = [(p, i.answer) for p, i in zip(preds, items, strict=True) if i.qtype == DETAIL]
    if details:
        report["detail"] = rouge_l([p for p, _ in details], [r for _, r in details])
    return {"n_items": len(items), **report}


def write_json(report: dict[str, Any], path: Path | str) -> Path:
    return records.write_json(path, report)


def write_predictions(items: Sequence[EvalItem], preds: Sequence[str], path: Path | str) -> Path:
    """JSONL of item + prediction + correct, for FiftyOne review of the wrong answers."""
    from vit.evaluate.metrics import exact_match, normalize_answer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for item, p in zip(items, preds, strict=True):
            row = {**item.to_dict(), "prediction": p, "extracted": normalize_answer(p, item.qtype)}
            row["correct"] = item.qtype != DETAIL and exact_match(p, item.answer, item.qtype)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def crowding_from_predictions(path: Path | str, n_objects: Mapping[str, int]) -> dict[str, float]:
    """{band: accuracy} by scene crowding (`accuracy_by_crowding`), read back from a
    `write_predictions` file: for reports written before they carried `by_objects`."""
    rows = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    items = [EvalItem.from_dict(r) for r in rows]
    acc = accuracy_by_crowding(items, [r["prediction"] for r in rows], n_objects)
    return {band: v["accuracy"] for band, v in acc.items()}


def write_plots_data(report: dict[str, Any], out_dir: Path | str) -> dict[str, Path]:
    """Files `dvc plots` reads: `by_type.csv` (qtype, model, accuracy: one row per bar, for a
    grouped bar chart) and `by_type_<model>.json` (one file per model, x=qtype y=accuracy,
    so a dvc.yaml plot can overlay models with the `bar_horizontal` template)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {"qtype": t, "model": name, "accuracy": acc}
        for t in [*report["types"], "overall"]
        for name, acc in (report["by_type"].get(t) or report["overall"]).items()
        if name != "n"
    ]
    paths = {"by_type": out / "by_type.csv"}
    with paths["by_type"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["qtype", "model", "accuracy"])
        w.writeheader()
        w.writerows(rows)
    for name in report["models"]:
        mine = [
            {"qtype": r["qtype"], "accuracy": r["accuracy"]} for r in rows if r["model"] == name
        ]
        paths[name] = out / f"by_type_{name}.json"
        paths[name].write_text(json.dumps(mine, indent=1) + "\n")
    return paths


def write_loss_data(history: list[dict[str, Any]], path: Path | str) -> Path:
    """`step, loss, eval_loss` rows (blank where a step has only one) for a DVC line plot."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps: dict[int, dict[str, Any]] = {}
    for h in history:
        if "step" in h and ("loss" in h or "eval_loss" in h):
            row = steps.setdefault(int(h["step"]), {"step": int(h["step"])})
            row.update({k: h[k] for k in ("loss", "eval_loss") if k in h})
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["step", "loss", "eval_loss"])
        w.writeheader()
        w.writerows(steps[s] for s in sorted(steps))
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: DVC stages and CI have no display
    import matplotlib.pyplot as plt

    return plt


def plot_by_type(report: dict[str, Any], out_png: Path | str) -> Path:
    """Grouped bars: accuracy per question type (and overall), one bar per model."""
    plt = _pyplot()
    labels = [*report["types"], "overall"]
    models = list(report["models"])
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 3.6))
    for k, name in enumerate(models):
        accs = [(report["by_type"].get(t) or report["overall"]).get(name, 0.0) for t in labels]
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, accs, width, label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("exact-match accuracy")
    ax.legend(fontsize="small")
    return _save(fig, plt, out_png)


def plot_loss(history: list[dict[str, Any]], out_png: Path | str) -> Path:
    """Train and eval loss against step, from a `Trainer.state.log_history`-like list."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key in ("loss", "eval_loss"):
        pts = [(h["step"], h[key]) for h in history if key in h and "step" in h]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="." if key == "eval_loss" else None, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize="small")
    return _save(fig, plt, out_png)


def _save(fig, plt, out_png: Path | str) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
