"""Review inside the loop, through FiftyOne's API on a real mongod (fixture `fiftyone_db`):
the round's fields and saved views, and the reviewers' tags deciding what trains."""

from __future__ import annotations

import threading
import time

import pytest

from vit.active import data as active_data
from vit.active.review import (
    DONE,
    HARD_EXAMPLES,
    WRONG_ANSWERS,
    accepted_records,
    decide,
    open_samples,
    publish,
    read_tags,
    selected_view_name,
    wait_for_review,
)
from vit.records import Dataset


@pytest.fixture(scope="module")
def train_ids(al_data):
    return [r.id for r in Dataset.open(al_data) if r.split == "train"]


@pytest.fixture(scope="module")
def synthesized(al_data, train_ids, tmp_path_factory):
    from vit.synth.config import SynthConfig

    ds = Dataset.open(al_data)
    recs = [r for r in ds if r.id in train_ids[:3]]
    folder = tmp_path_factory.mktemp("al-synth")
    cfg = SynthConfig(dedup=False, cache_dir=str(folder / "cache"))
    active_data.synthesize_for(recs, ds.image_root, folder / "r1", cfg)
    return cfg, folder, active_data.synthesized(folder / "r1", 0, {"round": 1})


def tag_later(ds, tags: dict[str, list[str]], delay: float) -> threading.Thread:
    """A reviewer in the App: tags samples a moment after the loop started waiting."""

    def work() -> None:
        time.sleep(delay)
        for vit_id, names in tags.items():
            ds.select_by("vit_id", [vit_id]).tag_samples(names)

    t = threading.Thread(target=work)
    t.start()
    return t


def test_round_fields_and_saved_views(fiftyone_db, al_data, train_ids, synthesized):
    _, _, recs = synthesized
    sel, other = train_ids[:3], train_ids[3:5]
    test_id = next(r.id for r in Dataset.open(al_data) if r.split == "test")
    ds = open_samples("t-al-views", al_data, sel)
    assert len(ds) == 40
    selected = [{"id": i, "score": 3 - n, "strategy": "hybrid"} for n, i in enumerate(sel)]
    scores = [
        {"id": i, "uncertainty": 1.0 + n, "diversity": 0.5} for n, i in enumerate(sel + other)
    ]
    scores[0]["gradnorm"] = 0.75  # badge's; the other strategies have none
    probes = [
        {"record_id": sel[0], "question": "How many?", "answer": "2", "prediction": "2", "correct": True},
        {"record_id": sel[0], "question": "Color?", "answer": "red", "prediction": "blue", "correct": False},
        {"record_id": test_id, "question": "Shape?", "answer": "star", "prediction": "star", "correct": True},
    ]  # fmt: skip
    hard = [{"id": other[0], "loss": 2.5, "variant": 1}]
    counts = publish(ds, 1, selected, scores, recs, probes, hard)
    assert counts == {selected_view_name(1): 3, HARD_EXAMPLES: 1, WRONG_ANSWERS: 1}
    assert set(ds.list_saved_views()) >= {"round-1 selected", "hard examples", "wrong answers"}
    view = ds.load_saved_view("round-1 selected")
    assert view.values("vit_id") == sel  # by selection score, highest first
    assert view.values("al_strategy") == ["hybrid"] * 3
    from fiftyone import ViewField as F

    one = ds.one(F("vit_id") == sel[0])
    assert one.al_probe_correct == 0.5 and one.al_uncertainty == 1.0
    assert one.al_gradnorm == 0.75 and ds.one(F("vit_id") == sel[1]).al_gradnorm is None
    assert one.al_probe_answers == ["How many? -> 2 (2)", "Color? -> blue (red)"]
    assert one.al_instructions and one.al_instructions[0].startswith("Q: ")
    assert ds.load_saved_view("wrong answers").values("vit_id") == [sel[0]]
    assert ds.load_saved_view("hard examples").values("al_hard_loss") == [2.5]
    assert ds.one(F("vit_id") == other[1]).al_diversity == 0.5
    # A later round replaces the views' contents; round 1's view stays as it was.
    publish(ds, 2, [{"id": other[1], "score": 1, "strategy": "hybrid"}], [], [], [], [])
    assert ds.load_saved_view("round-1 selected").count() == 3
    assert ds.load_saved_view("round-2 selected").values("vit_id") == [other[1]]
    assert ds.load_saved_view("wrong answers").count() == 0


def test_tags_decide_the_round(fiftyone_db, al_data, train_ids, synthesized):
    cfg, folder, recs = synthesized
    sel = train_ids[:3]
    ds = open_samples("t-al-tags", al_data, sel)
    reviewer = tag_later(ds, {sel[0]: ["reject"], sel[1]: ["fix"], sel[2]: [DONE]}, 0.5)
    tags, reason, waited = wait_for_review(ds, sel, timeout=60, poll=0.1)
    reviewer.join()
    assert reason == DONE and 0.4 < waited < 30
    rejected, fixed = decide(tags)
    assert (rejected, fixed) == ([sel[0]], [sel[1]])

    def resynthesize(ids):
        image_root = Dataset.open(al_data).image_root
        recs = [r for r in Dataset.open(al_data) if r.id in ids]
        m = active_data.synthesize_for(recs, image_root, folder / "fix", cfg, 101)
        assert m["run"]["sent"] == len(ids)  # a new seed: new requests, not the cached ones
        return active_data.synthesized(folder / "fix", 101, {"round": 1, "fixed": True})

    accepted = accepted_records(recs, rejected, fixed, resynthesize)
    by_source = {active_data.source_id(r): r for r in accepted}
    assert set(by_source) == {sel[1], sel[2]}
    assert by_source[sel[1]].id.endswith("-v101") and by_source[sel[1]].metadata["active"]["fixed"]
    old = next(r for r in recs if active_data.source_id(r) == sel[1])
    assert by_source[sel[1]].conversations != old.conversations
    assert by_source[sel[2]] in recs


def test_no_round_done_means_accept_after_the_timeout(fiftyone_db, al_data, train_ids):
    sel = train_ids[5:7]
    ds = open_samples("t-al-timeout", al_data, sel)
    ds.select_by("vit_id", [sel[0]]).tag_samples("reject")
    tags, reason, waited = wait_for_review(ds, sel, timeout=0.3, poll=0.1)
    assert reason == "timeout" and waited >= 0.3
    assert decide(tags) == ([sel[0]], [])
    assert read_tags(ds, sel)[sel[1]] == []
