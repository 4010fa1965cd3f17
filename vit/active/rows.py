"""A round's row of `metrics/al.json`, and which held-out items rows are scored on.

    row = round_row(loop, k, seconds)         # also written to OUT/round-K/summary.json
    splits, fingerprint = eval_set_for(cfg)   # what a row's `eval_set` must equal today

A row joins a curve only when it was scored on today's items (`curves.eval_set_of`), so the
fingerprint is computed here exactly as `evaluate_model` computes the report's `eval_set`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vit.active import data as al_data
from vit.active.config import ActiveConfig
from vit.records import Dataset, write_json

if TYPE_CHECKING:
    from vit.active.loop import Loop


def eval_set_for(cfg: ActiveConfig, ds: Dataset | None = None) -> tuple[tuple[str, ...], str]:
    """(held-out splits, items' fingerprint) that `cfg`'s rounds are scored on today: what a
    row's `curves.eval_set_of` must equal to join a curve. Pass `ds` when it is open."""
    from vit.evaluate.questions import items_fingerprint
    from vit.evaluate.run import held_out_items

    ds = ds or Dataset.open(cfg.data)
    items = held_out_items(ds, cfg.eval_splits, cfg.eval_per_image, cfg.eval_limit or None)
    return tuple(cfg.eval_splits), items_fingerprint(items)


def crowding(loop: Loop, report: dict[str, Any], d: Path) -> dict[str, float]:
    """Accuracy by scene crowding: the report's, or (a report from before it had one)
    read back from the round's predictions."""
    if report.get("by_objects"):
        return {b: v["accuracy"] for b, v in report["by_objects"].items()}
    from vit.evaluate.run import object_counts

    return crowding_from_round(d, object_counts(loop.records.values())) or {}


def crowding_from_round(d: Path, n_objects: Mapping[str, int]) -> dict[str, float] | None:
    """{band: accuracy} from round folder `d`'s predictions (None without them): for rounds
    evaluated before reports carried `by_objects`."""
    preds = d / "eval" / "predictions.jsonl"
    if not preds.exists():
        return None
    from vit.evaluate.report import crowding_from_predictions

    return crowding_from_predictions(preds, n_objects)


def item_correct(d: Path) -> dict[str, Any] | None:
    """Round folder `d`'s answers item by item, in the eval set's order, packed as
    {"n": items, "bits": hex} (bit i set: item i answered right); None without marked
    predictions.
    Two runs scored on the same items pair item by item (`curves.item_variance`): that is
    how much of a seed's difference is which questions were asked."""
    preds = d / "eval" / "predictions.jsonl"
    if not preds.exists():
        return None
    rows = [json.loads(line) for line in preds.read_text().splitlines() if line.strip()]
    if not rows or any("correct" not in r for r in rows):
        return None  # predictions written before they were marked right or wrong
    return pack_correct([bool(r["correct"]) for r in rows])


def pack_correct(right: Sequence[bool]) -> dict[str, Any]:
    """Answers in item order as {"n": items, "bits": hex}, bit i set when item i is right."""
    bits = np.array(right, dtype=bool)
    return {"n": len(bits), "bits": np.packbits(bits).tobytes().hex()}


def unpack_correct(packed: Mapping[str, Any]) -> np.ndarray:
    """`item_correct`'s bits back as a bool array of its `n` items."""
    raw = np.frombuffer(bytes.fromhex(packed["bits"]), dtype=np.uint8)
    return np.unpackbits(raw)[: int(packed["n"])].astype(bool)


def round_row(loop: Loop, k: int, seconds: dict[str, float]) -> dict[str, Any]:
    """Round k's row: its data, accuracy (overall, by type, by crowding), items, training."""
    d, cfg = loop.dir(k), loop.cfg
    report = json.loads((d / "eval.json").read_text())
    train = list(Dataset.open(d / "train"))
    done = json.loads((d / "model" / al_data.DONE).read_text())
    row = {
        "round": k,
        "strategy": cfg.strategy if k else "seed",
        "seed": cfg.seed,
        "selected": len(al_data.read_selection(d)),
        **al_data.count_summary(train),
        "accuracy": report["overall"]["tuned"],
        "majority": report["overall"].get("majority"),
        "by_type": {t: v.get("tuned") for t, v in report["by_type"].items()},
        "by_objects": crowding(loop, report, d),
        "item_correct": item_correct(d),
        "splits": report.get("splits", ["test"]),
        "eval_set": report.get("eval_set"),
        "train_loss": done.get("train_loss"),
        "steps": done.get("global_step"),
    }
    if (d / al_data.FOCUS_FILE).exists():
        row["focus"] = json.loads((d / al_data.FOCUS_FILE).read_text())["shares"]
    if not loop.skip(k):
        path = d / "summary.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        # The run that did a phase's work keeps its time: a rerun over a finished round
        # (more rounds, `dvc repro` after a params edit) skips its phases in milliseconds.
        row["seconds"] = {**seconds, **old.get("seconds", {})}
        write_json(path, row)
    return row
