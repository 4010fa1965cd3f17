"""The round's row and the held-out item set rows are scored on (vit/active/rows.py)."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.active._cfg import tiny_cfg
from vit.active.rows import eval_set_for, item_correct, unpack_correct
from vit.evaluate.questions import items_fingerprint
from vit.evaluate.run import held_out_items
from vit.records import Dataset


def test_eval_set_for_is_the_fingerprint_of_the_items_evaluate_model_asks(al_data, tmp_path):
    cfg = tiny_cfg(al_data, "unused", tmp_path, eval_splits=["test", "val"], eval_limit=0)
    ds = Dataset.open(al_data)
    splits, stamp = eval_set_for(cfg, ds)
    items = held_out_items(ds, ["test", "val"], cfg.eval_per_image, cfg.eval_limit or None)
    assert splits == ("test", "val") and stamp == items_fingerprint(items)
    assert eval_set_for(cfg) == (splits, stamp)  # opening the dataset itself: the same
    # Other splits, or fewer items, are other items: another fingerprint.
    assert eval_set_for(replace(cfg, eval_splits=["test"]), ds)[1] != stamp
    assert eval_set_for(replace(cfg, eval_limit=3), ds)[1] != stamp


def test_item_correct_packs_a_rounds_answers_in_item_order(tmp_path):
    right = [True, False, True, True, False, False, True, False, True]  # 9: a partial byte
    (tmp_path / "eval").mkdir()
    lines = [json.dumps({"id": f"s{i}:count", "correct": c}) for i, c in enumerate(right)]
    (tmp_path / "eval" / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    packed = item_correct(tmp_path)
    assert packed["n"] == 9 and len(packed["bits"]) == 4  # two bytes in hex
    assert unpack_correct(packed).tolist() == right
    assert item_correct(tmp_path / "nothing") is None
