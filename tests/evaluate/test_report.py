"""evaluate() end to end with stub answerers on real scene images; plots and DVC plot data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vit.evaluate.metrics import majority_answers, majority_baseline
from vit.evaluate.questions import ANSWER_FORMAT, asked, make_detail_set, make_eval_set
from vit.evaluate.report import (
    evaluate,
    plot_by_type,
    plot_loss,
    predict,
    write_json,
    write_loss_data,
    write_plots_data,
    write_predictions,
)
from vit.sources.scenes import encode_png, make_scene

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("scenes")
    (root / "images").mkdir()
    records = []
    for i in range(60):
        rec, img = make_scene(0, i, 32)
        (root / rec.image).write_bytes(encode_png(img))
        records.append(rec)
    train, test = make_eval_set(records[:40], seed=0), make_eval_set(records[40:], seed=1)
    return root, train, test


def in_order(answers: list[str]):
    """An answerer replaying `answers`: evaluate() asks in item order, on the item's image."""
    it = iter(answers)

    def answer(image, question: str) -> str:
        assert image.mode == "RGB" and image.size == (32, 32)
        return next(it)

    return answer


def test_every_model_is_asked_the_formatted_question(data):
    """predict() puts `asked(item, answer_format)` to the answerer: the format line by
    default, the bare question with answer_format="", and the same text for every item."""
    root, _, test = data
    seen: list[str] = []

    def record(image, question: str) -> str:
        seen.append(question)
        return ""

    predict(record, test[:5], root)
    assert seen == [f"{i.question}\n{ANSWER_FORMAT}" for i in test[:5]]
    seen.clear()
    evaluate(record, test[:5], image_root=root, answer_format="")
    assert seen == [i.question for i in test[:5]]


def test_gold_answers_score_one(data):
    root, _, test = data
    # The gold answer dressed as a sentence, as a chatty model would say it.
    preds: list[str] = []
    fn = in_order([f"I think it is {i.answer}." for i in test])
    report = evaluate(fn, test, image_root=root, predictions=preds)
    assert report["overall"]["tuned"] == 1.0
    assert all(v["tuned"] == 1.0 for v in report["by_type"].values())
    assert len(preds) == len(test) and report["n_items"] == len(test)


def test_majority_answerer_equals_majority_baseline(data):
    root, train, test = data
    maj = majority_answers(train)
    qtype_of = {asked(i): i.qtype for i in test}

    def majority_fn(image, question):
        return maj[qtype_of[question]]

    base = majority_baseline(train, test)
    report = evaluate(majority_fn, test, {"majority": base}, image_root=root)
    assert report["models"]["tuned"] == report["models"]["majority"] == base
    for row in report["by_type"].values():
        assert row["tuned"] == row["majority"]
    assert report["overall"]["tuned"] < 1.0


def test_report_files_and_plots(data, tmp_path: Path):
    root, train, test = data
    report = evaluate(
        lambda im, q: "yes",
        test,
        {"majority": majority_baseline(train, test), "stage1": majority_baseline(test, test)},
        image_root=root,
    )
    assert set(report["overall"]) == {"tuned", "majority", "stage1"}
    saved = json.loads(write_json(report, tmp_path / "metrics/eval.json").read_text())
    assert saved["by_type"]["existence"]["tuned"] == pytest.approx(0.5, abs=0.1)
    paths = write_plots_data(report, tmp_path / "plots")
    rows = list(csv.DictReader(paths["by_type"].open()))
    assert len(rows) == 3 * (len(report["types"]) + 1)
    assert json.loads(paths["stage1"].read_text())[-1]["qtype"] == "overall"
    png = plot_by_type(report, tmp_path / "by_type.png")
    assert png.read_bytes()[:8] == PNG
    history = [{"step": s, "loss": 3 / s} for s in range(1, 20)]
    history += [{"step": s, "eval_loss": 3.5 / s} for s in (5, 10, 15)] + [{"train_runtime": 1}]
    assert plot_loss(history, tmp_path / "loss.png").read_bytes()[:8] == PNG
    loss_rows = list(csv.DictReader(write_loss_data(history, tmp_path / "loss.csv").open()))
    assert len(loss_rows) == 19 and loss_rows[4]["eval_loss"] == "0.7"
    preds = ["yes"] * len(test)
    lines = write_predictions(test, preds, tmp_path / "preds.jsonl").read_text().splitlines()
    assert (
        sum(json.loads(x)["correct"] for x in lines)
        == report["models"]["tuned"]["overall"]["correct"]
    )


def test_detail_items_get_rouge(data):
    root, _, _ = data
    details = make_detail_set([make_scene(0, i, 32)[0] for i in range(3)])
    report = evaluate(in_order([d.answer for d in details]), details, image_root=root)
    assert report["detail"]["n"] == 3 and report["detail"]["rouge_l"] == 1.0
    assert report["models"]["tuned"]["overall"]["n"] == 0  # no exact-match items
