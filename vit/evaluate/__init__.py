"""Evaluation: held-out probe questions per type, exact-match metrics, baselines, reports.

    from vit.evaluate import make_eval_set, majority_baseline, evaluate
    items = make_eval_set(test_records, seed=0)
    report = evaluate(answer_fn, items, {"majority": majority_baseline(train_items, items)},
                      image_root=root)

`questions` builds the items, `metrics` scores answers, `report` runs a model and plots.
Plain library code: no prefect, matplotlib imported only when a plot is drawn.
"""

from vit.evaluate.metrics import (
    accuracy_by_type,
    exact_match,
    majority_answers,
    majority_baseline,
    normalize_answer,
    rouge_l,
)
from vit.evaluate.questions import (
    QTYPES,
    EvalItem,
    load_items,
    make_detail_set,
    make_eval_set,
    save_items,
)
from vit.evaluate.report import evaluate, plot_by_type, plot_loss, predict, write_plots_data

__all__ = [
    "QTYPES",
    "EvalItem",
    "accuracy_by_type",
    "evaluate",
    "exact_match",
    "load_items",
    "majority_answers",
    "majority_baseline",
    "make_detail_set",
    "make_eval_set",
    "normalize_answer",
    "plot_by_type",
    "plot_loss",
    "predict",
    "rouge_l",
    "save_items",
    "write_plots_data",
]
