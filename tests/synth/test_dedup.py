"""Generated instructions go through the dedup stage's own text dedup (vit.dedup.text)."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from tests.synth._fixtures import dataset, scenes
from vit.curate.contract import check_conversations
from vit.records import Dataset, Record
from vit.synth import instruction_dedup
from vit.synth.instruction_dedup import dedup_instructions
from vit.synth.parse import to_conversations
from vit.synth.run import SynthConfig, synthesize


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A stand-in embedder: hashed word counts, unit norm (equal words -> cosine 1)."""
    x = np.zeros((len(texts), 256), dtype=np.float32)
    for k, t in enumerate(texts):
        for w in re.findall(r"[a-z]+", t.lower()):
            x[k, int(hashlib.md5(w.encode()).hexdigest(), 16) % 256] += 1
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rec(rid: str, image: str, qa: list[tuple[str, str]]) -> Record:
    meta = {"synth": {"type": "conversation", "source_id": image}}
    return Record(id=rid, image=image, conversations=to_conversations(qa), metadata=meta)


def test_repeats_within_a_conversation_are_cut_and_recorded() -> None:
    qa = [
        ("How many circles?", "Two circles."),
        ("Where is the star?", "At the top."),
        ("How many circles?", "Two circles."),
    ]
    kept, rows, summary = dedup_instructions([rec("a-0", "a.png", qa)], 0.05, bag_of_words)
    assert rows == [] and summary["exchanges_cut"] == 1
    (r,) = kept
    assert [t["value"] for t in r.conversations] == [
        "<image>\nHow many circles?",
        "Two circles.",
        "Where is the star?",
        "At the top.",
    ]
    assert r.metadata["synth"]["dedup"][0]["duplicate_of"] == 0
    assert check_conversations(r) == []


def test_same_image_same_instruction_is_one_sample_other_images_are_not() -> None:
    qa = [("Is there a red square?", "No, there is no red square.")]
    recs = [
        rec("a-0", "a.png", qa),
        rec("a-1", "a.png", qa),
        rec("b-0", "b.png", qa),
        rec("a-2", "a.png", [("Where is the star?", "At the top.")]),
    ]
    kept, rows, summary = dedup_instructions(recs, 0.05, bag_of_words)
    assert [r.id for r in kept] == ["a-0", "b-0", "a-2"]
    assert [(r["id"], r["duplicate_of"], r["code"]) for r in rows] == [("a-1", "a-0", "duplicate")]
    assert summary["records_removed"] == 1 and summary["method"] == "vit.dedup.text"


def test_synthesize_dedups_with_minilm(tmp_path, monkeypatch) -> None:
    # One-object scenes, four reasoning questions each: few puzzles fit, so some repeat.
    recs = [r for r in scenes(60, seed=2) if len(r.annotations) == 1][:6]
    src = dataset(tmp_path / "src", recs)
    cfg = SynthConfig(cache_dir=str(tmp_path / "cache"), per_image=4, mix={"reasoning": 1.0})
    m = synthesize(src, tmp_path / "out", cfg, progress=False)
    out = Dataset.open(tmp_path / "out")
    assert m["dedup"]["method"] == "vit.dedup.text (MiniLM)" and m["dedup"]["eps"] == 0.05
    removed = m["total"]["duplicates"]
    assert removed > 0 and m["total"]["final"] == len(out) == m["total"]["kept"] - removed
    dups = [r for r in out.rejects() if r["code"] == "duplicate"]
    assert len(dups) == removed
    ids = {r.id for r in out}
    assert all(d["duplicate_of"] in ids for d in dups)
    assert all(check_conversations(r) == [] for r in out)
    # Nothing changed: the final dataset is not rebuilt, MiniLM is not even asked.
    before = {p: p.read_bytes() for p in (tmp_path / "out").glob("*.jsonl")}
    monkeypatch.setattr(instruction_dedup, "minilm", None)
    again = synthesize(src, tmp_path / "out", cfg, progress=False)
    assert again["run"]["sent"] == 0 and again["total"] == m["total"]
    assert {p: p.read_bytes() for p in (tmp_path / "out").glob("*.jsonl")} == before


def test_short_records_are_left_to_their_construction() -> None:
    """One-word rounds: the embedding rule would merge opposite facts, so it does not run."""
    qa = [
        ("Is the square left or right of the diamond?", "left"),
        ("Is the diamond left or right of the square?", "right"),
    ]
    a = rec("a-0", "a.png", qa)
    b = rec("a-1", "a.png", qa)
    for r in (a, b):
        r.metadata["synth"]["type"] = "short"
    kept, rows, summary = dedup_instructions([a, b], 0.5, bag_of_words)
    assert [r.id for r in kept] == ["a-0", "a-1"] and rows == []
    assert summary["exchanges_cut"] == 0 and len(kept[0].conversations) == 4
    conv = rec("c-0", "c.png", qa)  # the same rounds as a conversation record are cut
    assert dedup_instructions([conv], 0.5, bag_of_words)[2]["exchanges_cut"] == 1
