"""The openai backend against a real chat-completions server on 127.0.0.1.

Each failure mode a production server shows (429 + Retry-After, 500, a hang past the
timeout, a malformed body, a refused JSON mode, a hallucinating model) is played by the
server; the backend must retry, give up, fall back or report, and the API key must never
reach a log, an output or the cache.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.synth._fixtures import dataset, scenes
from vit.records import Dataset
from vit.synth.backends import Request, get_backend
from vit.synth.run import SynthConfig, synthesize
from vit.synth.templates import parse_context, render
from vit.synth.testing import ChatServer, Reply, grounded_responder
from vit.synth.vocab import number_word

RECS = scenes(12, seed=5)


def backend(srv: ChatServer, **kw):
    opts = {"base_url": srv.url, "timeout": 2.0, "backoff_base": 0.01, "backoff_max": 0.05} | kw
    return get_backend("openai", "fake-llm", **opts)


def req(i: int = 0, kind: str = "conversation", seed: int = 1) -> Request:
    msgs = render(kind, RECS[i])
    return Request(f"{i:02d}{kind}{seed}".ljust(64, "0"), kind, msgs, {"seed": seed}, RECS[i])


def test_retries_429_500_timeout_and_malformed_then_succeeds() -> None:
    script = {
        0: Reply(status=429, headers={"Retry-After": "0.3"}),
        1: Reply(status=503),
        2: Reply(delay=1.5, content="{}"),  # hangs past the client's 0.4 s timeout
        3: Reply(raw=b'{"choices": [{"message": '),  # malformed body
    }
    with ChatServer(lambda body, n: script.get(n) or grounded_responder(body, n)) as srv:
        t0 = time.perf_counter()
        (out,) = backend(srv, timeout=0.4, max_retries=5).generate([req()])
        elapsed = time.perf_counter() - t0
    assert out.text and json.loads(out.text)["conversation"] and out.error is None
    assert out.retries == 4 and srv.count == 5
    assert srv.times[1] - srv.times[0] >= 0.3  # Retry-After honored, not just the 10 ms backoff
    assert elapsed >= 0.7 and out.latency >= 0.7
    assert out.tokens_in > 0 and out.tokens_out > 0


def test_a_request_that_keeps_failing_fails_alone() -> None:
    def flaky(body, n):
        return Reply(status=500) if body.get("seed") == 666 else grounded_responder(body, n)

    with ChatServer(flaky) as srv:
        got = []
        outs = backend(srv, max_retries=2).generate(
            [req(0), req(1, seed=666), req(2)], on_result=lambda i, r: got.append(i)
        )
    assert [o.text is not None for o in outs] == [True, False, True]
    assert outs[1].retries == 2 and outs[1].error == "http 500 (gave up after 2 retries)"
    assert sum(b.get("seed") == 666 for b in srv.requests) == 3
    assert sorted(got) == [0, 1, 2]  # every result is reported as it lands


def test_connection_errors_are_retried_then_reported() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    b = get_backend(
        "openai",
        "fake-llm",
        base_url=f"http://127.0.0.1:{port}/v1",
        backoff_base=0.01,
        max_retries=2,
        max_tokens_field="max_completion_tokens",
    )
    (out,) = b.generate([req()])
    assert out.text is None and out.retries == 2
    assert out.error == "connection error (ConnectError) (gave up after 2 retries)"
    assert "max_completion_tokens" in b._payload(Request("k", "detail", [], {"max_tokens": 9}))


def test_client_errors_are_not_retried() -> None:
    with ChatServer(lambda body, n: Reply(status=404)) as srv:
        (out,) = backend(srv, max_retries=5).generate([req()])
    assert out.text is None and out.error.startswith("http 404") and srv.count == 1


def test_json_mode_auto_falls_back_once_the_server_refuses_it() -> None:
    def no_json(body, n):
        if "response_format" in body:
            return Reply(status=400, raw=b'{"error": "response_format is not supported"}')
        return grounded_responder(body, n)

    with ChatServer(no_json) as srv:
        outs = backend(srv, concurrency=1).generate([req(0), req(1), req(2)])
    assert all(o.text for o in outs) and all(o.retries == 0 for o in outs)
    assert ["response_format" in b for b in srv.requests] == [True, False, False, False]
    with ChatServer(no_json) as srv:
        backend(srv, json_mode="off").generate([req(0)])
        assert "response_format" not in srv.requests[0]
        (refused,) = backend(srv, json_mode="on").generate([req(0)])
    assert refused.text is None and refused.error.startswith("http 400")


def test_concurrency_is_bounded_and_used() -> None:
    with ChatServer(grounded_responder, delay=0.05) as srv:
        t0 = time.perf_counter()
        outs = backend(srv, concurrency=4).generate([req(i % 12, seed=i) for i in range(24)])
        elapsed = time.perf_counter() - t0
    assert all(o.text for o in outs)
    assert srv.max_in_flight == 4
    assert elapsed < 0.8 * 24 * 0.05  # under the sequential time, with room for a slow CI


def test_api_key_never_reaches_logs_outputs_or_cache(tmp_path, monkeypatch, caplog, capsys):
    secret = "sk-vitflow-TEST-0123456789abcdef"
    monkeypatch.setenv("VIT_TEST_KEY", secret)

    def echo(body, n):  # a hostile server that echoes the credential back in its errors
        if n % 3 == 0:
            return Reply(status=401, raw=json.dumps({"error": f"bad key {secret}"}).encode())
        return grounded_responder(body, n)

    src = dataset(tmp_path / "src", RECS[:6], shard_size=3)
    caplog.set_level(logging.DEBUG)
    with ChatServer(echo) as srv:
        cfg = SynthConfig(
            backend="openai",
            model="fake-llm",
            base_url=srv.url,
            api_key_env="VIT_TEST_KEY",
            cache_dir=str(tmp_path / "cache"),
            metrics_path=str(tmp_path / "metrics.json"),
            max_retries=1,
            dedup=False,
        )
        metrics = synthesize(src, tmp_path / "out", cfg, progress=True)
        b = backend(srv, api_key_env="VIT_TEST_KEY")
    assert set(srv.auth) == {f"Bearer {secret}"}  # it was used...
    assert metrics["total"]["failures"] > 0  # ...and the echoing errors were recorded
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, json.dumps(metrics), repr(b), repr(cfg)]
    texts += [p.read_text() for p in tmp_path.rglob("*") if p.is_file() and p.parent != src]
    assert not [t for t in texts if secret in t]
    rejects = Dataset.open(tmp_path / "out").rejects()
    assert any("***" in r["reason"] for r in rejects)


def _hallucinate(body, n):
    """Every third answer gains a false count; the server remembers which it spoiled."""
    reply = grounded_responder(body, n)
    if n % 3:
        return reply
    n_objects = len(parse_context(body["messages"][-1]["content"]))
    lie = f"There are {number_word(n_objects + 2)} shapes in the image."
    data = json.loads(reply.content)
    if "conversation" in data:
        data["conversation"].append({"question": "How many shapes are there?", "answer": lie})
    elif "description" in data:
        data["description"] += " " + lie
    else:
        data["answer"] = lie
    return Reply(content=json.dumps(data))


@pytest.mark.parametrize("mode", ["drop", "trim"])
def test_hallucinated_answers_from_the_server_are_caught(tmp_path, mode) -> None:
    src = dataset(tmp_path / "src", RECS, shard_size=6)
    with ChatServer(_hallucinate) as srv:
        cfg = SynthConfig(
            backend="openai",
            model="fake-llm",
            base_url=srv.url,
            validator=mode,
            per_image=2,
            cache_dir=str(tmp_path / "cache"),
            dedup=False,
        )
        m = synthesize(src, tmp_path / "out", cfg, progress=False)
    spoiled = len(range(0, srv.count, 3))
    total = m["total"]
    assert total["requests"] == srv.count == 24 and total["hallucinated"] == spoiled
    assert total["hallucination_rate"] == round(spoiled / 24, 4)
    convs = m["types"].get("conversation", {})
    if mode == "drop":
        assert total["rejected"] == spoiled and total["kept"] == 24 - spoiled
    else:  # a spoiled conversation loses only its false turn
        assert total["rejected"] == spoiled - convs.get("hallucinated", 0)
        assert total["trimmed_turns"] == convs.get("hallucinated", 0)
    out = Dataset.open(tmp_path / "out")
    for rec in out:
        assert "shapes in the image" not in rec.conversations[-1]["value"] or str(
            len(rec.annotations)
        )
    rows = [r for r in out.rejects() if r.get("code") == "hallucination"]
    assert len(rows) == total["rejected"] and all("count" in r["reason"] for r in rows)


def test_tokens_and_cost_are_counted(tmp_path) -> None:
    src = dataset(tmp_path / "src", RECS[:4])
    with ChatServer(grounded_responder) as srv:
        cfg = SynthConfig(
            backend="openai",
            model="fake-llm",
            base_url=srv.url,
            n_per_type={"conversation": 1, "detail": 1, "reasoning": 1},
            price_in_per_1k=0.5,
            price_out_per_1k=1.5,
            cache_dir=str(tmp_path / "cache"),
            dedup=False,
        )
        m = synthesize(src, tmp_path / "out", cfg, progress=False)
    t = m["total"]
    assert t["requests"] == m["run"]["sent"] == srv.count == 12 and t["kept"] == 12
    assert t["tokens_in"] > 12 * 500 and t["tokens_out"] > 0
    assert t["cost"] == round(t["tokens_in"] / 1000 * 0.5 + t["tokens_out"] / 1000 * 1.5, 6)
    assert set(m["types"]) == {"conversation", "detail", "reasoning"}
