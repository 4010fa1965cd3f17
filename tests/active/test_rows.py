"""The round's row and the held-out item set rows are scored on (vit/active/rows.py)."""

from __future__ import annotations

from dataclasses import replace

from tests.active._cfg import tiny_cfg
from vit.active.rows import eval_set_for
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
