"""The LLM side under faults: `vit synth` killed -9 mid-run and restarted, and a server that
answers 500/429 for a while before it recovers. Both end with every record, and no request
whose answer had reached the cache is ever sent again."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.faults._proc import finish, kill9, start, vit_argv, vit_env, wait_for
from tests.faults._synth import (
    cached_keys,
    key_of,
    outputs,
    planned_keys,
    scenes_dataset,
    settings,
)
from vit.synth.config import SynthConfig
from vit.synth.run import synthesize
from vit.synth.testing import ChatServer, grounded_responder, outage


def sets(params: dict) -> list[str]:
    return [a for k, v in params.items() for a in ("--set", f"{k}={v}")]


@pytest.mark.slow
def test_killed_synth_resends_only_unanswered_requests(tmp_path, prefect_api):
    src = scenes_dataset(tmp_path / "src", 60, shard_size=10)
    with ChatServer(grounded_responder, delay=0.03) as srv:
        params = settings(srv.url, tmp_path / "cache", concurrency=2, backoff_base=0.01)
        keys = planned_keys(src, params)
        argv = vit_argv("synth", str(src), "--out", str(tmp_path / "out"), *sets(params))
        env = vit_env(prefect_api)
        proc = start(argv, tmp_path, env, tmp_path / "killed.log")
        wait_for(proc, lambda: len(cached_keys(tmp_path / "cache")) >= 15, tmp_path / "killed.log")
        kill9(proc)
        time.sleep(0.3)  # the server finishes answering into the dead connections
        cached = cached_keys(tmp_path / "cache")
        first = srv.count
        answered = {key_of(srv.requests[n], keys) for n, st in srv.delivered if st == 200}
        assert 15 <= len(cached) < len(keys)
        assert cached <= answered

        summary = finish(argv, tmp_path, env, tmp_path / "restart.log")
        resent = [key_of(b, keys) for b in srv.requests[first:]]
        assert not set(resent) & cached  # nothing that was cached is asked again
        assert len(resent) == len(set(resent)) == len(keys) - len(cached)  # just the rest
        assert summary["run"]["sent"] == len(resent) and summary["total"]["kept"] == len(keys)
        lost = answered - cached  # answered while the process died: never stored, so resent
        assert lost <= set(resent) and len(lost) <= 2  # at most one per connection

        before = srv.count
        ref = tmp_path / "reference"
        cfg = SynthConfig.from_dict(settings(srv.url, tmp_path / "ref-cache"))
        synthesize(src, ref, cfg, progress=False)
        assert srv.count - before == len(keys)
    assert outputs(tmp_path / "out") == outputs(ref)  # equal to an uninterrupted run
    print(
        f"\nsynth kill -9: {len(cached)}/{len(keys)} answers cached at the kill, "
        f"{len(lost)} answered in flight but not stored; restart sent {len(resent)} "
        f"(0 already-cached), {summary['total']['kept']} kept"
    )


@pytest.mark.parametrize(
    "fault",
    [
        {"seconds": 1.5, "status": 500},
        {"first": 12, "status": 429, "retry_after": 0.3},
    ],
    ids=["500-for-1.5s", "429-first-12"],
)
def test_server_errors_then_recovery(tmp_path, fault):
    src = scenes_dataset(tmp_path / "src", 30, shard_size=10)
    with ChatServer(outage(grounded_responder, **fault), delay=0.01) as srv:
        # Backoff from 0.2 s, doubling: five retries span more than 1.5 s of outage.
        params = settings(srv.url, tmp_path / "cache", concurrency=4, backoff_base=0.2)
        keys = planned_keys(src, params)
        m = synthesize(src, tmp_path / "out", SynthConfig.from_dict(params), progress=False)
        ok = Counter(key_of(srv.requests[n], keys) for n, st in srv.delivered if st == 200)
        failed = sum(st != 200 for _, st in srv.delivered)
    assert failed > 0 and m["run"]["retries"] >= failed  # the outage was real and retried
    assert set(ok) == set(keys.values()) and set(ok.values()) == {1}  # each answered once
    assert m["total"]["kept"] == len(keys) and m["total"]["failures"] == 0
    assert len(outputs(tmp_path / "out")) == len(keys)
    print(
        f"\nsynth {fault}: {failed} errors, {m['run']['retries']} retries, "
        f"{sum(ok.values())} answers for {len(keys)} requests, {m['total']['kept']} kept"
    )
