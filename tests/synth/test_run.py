"""synthesize() with the offline backends: output layout, provenance, contract, reruns."""

from __future__ import annotations

import json

import pytest

from tests.synth._fixtures import dataset, scenes
from vit.curate.contract import check_conversations
from vit.records import Dataset, Record
from vit.synth.backends.dummy import DummyBackend
from vit.synth.run import SynthConfig, plan_types, synthesize
from vit.synth.templates import TYPES, template_hash


def test_grounded_run_writes_llava_records_with_provenance(tmp_path) -> None:
    recs = scenes(30, seed=4)
    src = dataset(tmp_path / "src", recs)
    cfg = SynthConfig(
        cache_dir=str(tmp_path / "cache"),
        per_image=2,
        dedup=False,
        metrics_path=str(tmp_path / "metrics" / "synth.json"),
    )
    m = synthesize(src, tmp_path / "out", cfg, progress=False)
    out = Dataset.open(tmp_path / "out")
    assert m["total"]["requests"] == 60 and m["total"]["kept"] == 60
    assert m["total"]["rejected"] == 0 and m["total"]["final"] == len(out)
    assert json.loads((tmp_path / "metrics" / "synth.json").read_text()) == m
    by_id = {r.id: r for r in recs}
    for rec in out:
        src_id, kind, k = rec.id.rsplit("-", 2)
        assert kind in TYPES and k in ("0", "1") and src_id in by_id
        assert check_conversations(rec) == []  # the LLaVA contract
        assert rec.conversations[0]["value"].startswith("<image>\n")
        assert rec.image == by_id[src_id].image and rec.annotations == by_id[src_id].annotations
        p = rec.metadata["synth"]
        assert p["backend"] == "grounded" and p["model"] == "grounded-v3"
        assert p["type"] == kind and p["source_id"] == src_id
        assert p["template_hash"] == template_hash(kind) and len(p["cache_key"]) == 64
        assert p["sampling"]["temperature"] == 0.7 and p["time"]
        assert p["validator"]["mode"] == "drop" and p["validator"]["reasons"] == []
    assert out.image_root.resolve() == Dataset.open(src).image_root.resolve() == src.resolve()


def test_rerun_regenerates_nothing_and_rewrites_the_same_bytes(tmp_path) -> None:
    src = dataset(tmp_path / "src", scenes(12, seed=6), shard_size=5)
    cfg = SynthConfig(cache_dir=str(tmp_path / "cache"), dedup=False)
    synthesize(src, tmp_path / "out", cfg, progress=False)
    files = {p: p.read_bytes() for p in sorted((tmp_path / "out").rglob("*.jsonl"))}
    cache = {p: p.read_bytes() for p in sorted((tmp_path / "cache").glob("*"))}
    m = synthesize(src, tmp_path / "out", cfg, progress=False)
    assert m["run"]["sent"] == 0
    assert {p: p.read_bytes() for p in sorted((tmp_path / "out").rglob("*.jsonl"))} == files
    assert {p: p.read_bytes() for p in sorted((tmp_path / "cache").glob("*"))} == cache
    # A fresh output folder from the same cache: every answer comes from the cache.
    fresh = synthesize(src, tmp_path / "out2", cfg, progress=False)
    assert fresh["run"]["sent"] == 0 and fresh["run"]["cache_hits"] == 12


def test_a_new_writer_version_redoes_finished_shards(tmp_path) -> None:
    from dataclasses import replace

    src = dataset(tmp_path / "src", scenes(6, seed=2), shard_size=3)
    cfg = SynthConfig(cache_dir=str(tmp_path / "cache"), dedup=False)
    synthesize(src, tmp_path / "out", cfg, progress=False)
    # the grounded writer's version is its model name ("grounded-v3"): a bump must not
    # resume from the old writer's finished shards
    m = synthesize(src, tmp_path / "out", replace(cfg, model="grounded-v9"), progress=False)
    assert m["run"]["sent"] == 6
    models = {r.metadata["synth"]["model"] for r in Dataset.open(tmp_path / "out")}
    assert models == {"grounded-v9"}


def test_type_plan_mix_and_exact_counts() -> None:
    cfg = SynthConfig(per_image=4, mix={"conversation": 1.0})
    assert plan_types("a", cfg) == [("conversation", k) for k in range(4)]
    cfg = SynthConfig(n_per_type={"detail": 2, "reasoning": 1})
    assert plan_types("a", cfg) == [("detail", 0), ("detail", 1), ("reasoning", 0)]
    cfg = SynthConfig(per_image=1)
    drawn = [plan_types(f"r{i}", cfg)[0][0] for i in range(2000)]
    share = {t: drawn.count(t) / 2000 for t in TYPES}
    assert abs(share["conversation"] - 0.5) < 0.05 and abs(share["detail"] - 0.25) < 0.05
    assert plan_types("r7", cfg) == plan_types("r7", SynthConfig(per_image=1))
    with pytest.raises(ValueError, match="unknown instruction types"):
        SynthConfig(mix={"captions": 1.0})
    with pytest.raises(ValueError, match=r"unknown SynthConfig keys \[.temprature.\]"):
        SynthConfig.from_dict({"backend": "grounded", "temprature": 0.2})


def test_records_without_boxes_are_skipped_and_garbage_is_rejected(tmp_path, monkeypatch):
    recs = [*scenes(3, seed=8), Record(id="digit-1", image="images/d.png", captions=["a 3"])]
    src = dataset(tmp_path / "src", recs)
    answers = {
        "conversation": "I cannot help with that.",
        "detail": None,
        "reasoning": '{"question": "Why?", "answer": "There are nine stars."}',
    }
    monkeypatch.setattr(DummyBackend.__init__, "__defaults__", ("dummy", answers))
    cfg = SynthConfig(
        backend="dummy",
        cache_dir=str(tmp_path / "cache"),
        n_per_type={t: 1 for t in TYPES if t != "short"},
    )
    m = synthesize(src, tmp_path / "out", cfg, progress=False)
    assert m["skipped_records"] == 1 and m["total"]["requests"] == 9
    assert m["types"]["conversation"]["parse_failures"] == 3
    assert m["types"]["detail"]["failures"] == 3
    assert m["types"]["reasoning"]["rejected"] == 3
    assert m["types"]["reasoning"]["hallucination_rate"] == 1.0
    codes = sorted(r["code"] for r in Dataset.open(tmp_path / "out").rejects())
    assert (
        codes
        == ["generation_failed"] * 3
        + ["hallucination"] * 3
        + ["no_annotations"]
        + ["parse_failed"] * 3
    )
    assert len(Dataset.open(tmp_path / "out")) == 0


def test_a_focus_changes_short_requests_only_and_is_recorded(tmp_path) -> None:
    """The focus is in the prompt (so in the cache key), rides on the request for the
    grounded writer, and is kept in the provenance; unset, nothing changes."""
    from vit.synth.cache import Cache
    from vit.synth.run import _Run, make_backend

    rec = scenes(1, seed=4)[0]
    plain = SynthConfig(cache_dir=str(tmp_path / "c"), n_per_type={"short": 1, "detail": 1})
    focused = SynthConfig(**{**plain.__dict__, "focus": {"count": 1.0}})
    keys = {}
    for name, cfg in (("plain", plain), ("focused", focused)):
        run = _Run(cfg, make_backend(cfg), Cache(cfg.cache_dir), False)
        keys[name] = {kind: req for kind, _, req in run.requests(rec)}
    assert keys["plain"]["short"].key != keys["focused"]["short"].key
    assert keys["plain"]["detail"].key == keys["focused"]["detail"].key
    assert keys["focused"]["short"].focus == {"count": 1.0} and not keys["plain"]["short"].focus
    assert "focus" not in plain.fingerprint()
    assert focused.fingerprint()["focus"] == {"count": 1.0}
    with pytest.raises(ValueError, match="focus"):
        SynthConfig(focus={"colour": 1.0})
    with pytest.raises(ValueError, match="focus"):
        SynthConfig(focus={"count": 0.0})
    src = dataset(tmp_path / "src", scenes(6, seed=4))
    synthesize(src, tmp_path / "out", SynthConfig(**{**focused.__dict__, "dedup": False}), False)
    for r in Dataset.open(tmp_path / "out"):
        p = r.metadata["synth"]
        assert p.get("focus") == ({"count": 1.0} if p["type"] == "short" else None)
        if p["type"] == "short":  # count questions only
            assert all(t["value"].isdigit() for t in r.conversations[1::2])
