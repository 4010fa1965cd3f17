"""Sharded steps: resume redoes only unfinished shards; params or input changes redo them."""

from __future__ import annotations

import pytest

from vit.records import Dataset, Record, reject, write_dataset
from vit.shards import fingerprint, finish, pending, plan, run_job, run_sharded


def _src(tmp_path, n=25, shard_size=10):
    recs = [Record(id=f"r{i}", metadata={"v": i}) for i in range(n)]
    return write_dataset(tmp_path / "src", recs, tmp_path, shard_size=shard_size).path


def drop_odd(records):
    kept = [r for r in records if r.metadata["v"] % 2 == 0]
    rej = [
        reject(r.id, "test", "odd", value=r.metadata["v"]) for r in records if r.metadata["v"] % 2
    ]
    return kept, rej


def test_run_sharded_keeps_and_rejects(tmp_path):
    ds = run_sharded(_src(tmp_path), tmp_path / "out", drop_odd, {"p": 1})
    assert ds.count == 13 and len(ds.shards) == 3
    assert sorted(r["id"] for r in ds.rejects()) == sorted(f"r{i}" for i in range(1, 25, 2))
    assert ds.image_root.resolve() == tmp_path.resolve()


def test_killed_run_resumes_only_unfinished_shards(tmp_path):
    src, out = _src(tmp_path), tmp_path / "out"
    jobs = plan(src, out, fingerprint({"p": 1}))
    run_job(jobs[0], drop_odd)  # then "killed": shards 1 and 2 never ran
    with pytest.raises(RuntimeError, match="not finished"):
        finish(src, out, jobs)
    with pytest.raises(FileNotFoundError):
        Dataset.open(out)  # no manifest: nobody mistakes it for a whole dataset
    calls = []

    def counting(records):
        calls.append(records[0].id)
        return drop_odd(records)

    ds = run_sharded(src, out, counting, {"p": 1})
    assert calls == ["r10", "r20"] and ds.count == 13
    # Nothing left to do on a rerun; a params change redoes everything.
    assert pending(plan(src, out, fingerprint({"p": 1}))) == []
    assert len(pending(plan(src, out, fingerprint({"p": 2})))) == 3


def test_torn_output_shard_is_redone(tmp_path):
    src, out = _src(tmp_path), tmp_path / "out"
    run_sharded(src, out, drop_odd, {})
    with open(out / "records-00001.jsonl", "a") as f:
        f.write('{"id": "half')
    assert [j.out for j in pending(plan(src, out, fingerprint({})))] == [
        str(out / "records-00001.jsonl")
    ]
