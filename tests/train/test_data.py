from __future__ import annotations

import pytest

from vit.records import IMAGE_TOKEN
from vit.train.data import ALIGN_PROMPT, TrainData, has_split


def test_splits_filter_records(scenes):
    train, val = TrainData(scenes, "instruct", "train"), TrainData(scenes, "instruct", "val")
    assert (len(train), len(val)) == (12, 4)
    assert not {r.id for r in train.records} & {r.id for r in val.records}
    assert len(TrainData(scenes, "instruct")) == 16
    assert has_split(scenes, "val") and not has_split(scenes, "test")


def test_align_examples_are_brief_captions_that_cycle(scenes):
    ds = TrainData(scenes, "align", "train")
    ex = ds[0]
    rec = ds.records[0]
    assert ex["id"] == rec.id and ex["image"].endswith(".png")
    human, gpt = ex["conversations"]
    assert human == {"from": "human", "value": f"{IMAGE_TOKEN}\n{ALIGN_PROMPT}"}
    assert gpt["value"] in rec.captions
    seen = set()
    for epoch in range(len(rec.captions)):
        ds.set_epoch(epoch)
        seen.add(ds[0]["conversations"][1]["value"])
    assert seen == set(rec.captions)  # every caption once per len(captions) epochs
    ds.set_epoch(0)
    assert ds[0] == TrainData(scenes, "align", "train")[0]  # deterministic across processes


def test_instruct_uses_record_conversations(scenes):
    ds = TrainData(scenes, "instruct", "train")
    assert ds[0]["conversations"] == ds.records[0].conversations


def test_empty_selection_is_an_error(scenes):
    with pytest.raises(ValueError, match="no records"):
        TrainData(scenes, "instruct", "test")
