"""The generation cache: content keys, append-as-you-go, torn-line repair, stable bytes."""

from __future__ import annotations

import json

from vit.synth.cache import Cache, cache_key

MSGS = [{"role": "user", "content": "hi"}]


def test_key_covers_backend_model_template_messages_sampling() -> None:
    base = ("openai", "m", "t" * 64, MSGS, {"temperature": 0.7})
    k = cache_key(*base)
    assert len(k) == 64 and k == cache_key(*base)
    variants = [
        ("grounded", *base[1:]),
        (base[0], "m2", *base[2:]),
        (*base[:2], "u" * 64, *base[3:]),
        (*base[:3], [{"role": "user", "content": "hello"}], base[4]),
        (*base[:4], {"temperature": 0.8}),
    ]
    assert len({cache_key(*v) for v in variants} | {k}) == 6


def test_put_get_reload_and_compact(tmp_path) -> None:
    cache = Cache(tmp_path)
    keys = [cache_key("b", "m", "t", MSGS, {"i": i}) for i in range(50)]
    for i, k in enumerate(reversed(keys)):
        cache.put(k, {"text": f"answer {i}", "tokens_out": i})
    again = Cache(tmp_path)
    assert len(again) == 50 and again.get(keys[-1])["text"] == "answer 0"
    assert again.get("f" * 64) is None
    cache.compact()
    first = {p.name: p.read_bytes() for p in tmp_path.glob("*.jsonl")}
    for p in tmp_path.glob("*.jsonl"):
        lines = [json.loads(x) for x in p.read_text().splitlines()]
        assert [e["key"] for e in lines] == sorted(e["key"] for e in lines)
        assert all(e["key"].startswith(p.stem) for e in lines)
    # Same content written in another order compacts to the same bytes.
    other = Cache(tmp_path / "b")
    for i, k in enumerate(reversed(keys)):
        other.put(k, {"text": f"answer {i}", "tokens_out": i})
    other.compact()
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").glob("*.jsonl")} == first


def test_a_line_torn_by_a_kill_is_dropped_and_appends_continue(tmp_path) -> None:
    cache = Cache(tmp_path)
    k1, k2, k3 = (cache_key("b", "m", "t", MSGS, {"i": i}) + "" for i in range(3))
    k2 = k1[:2] + k2[2:]  # same file
    k3 = k1[:2] + k3[2:]
    cache.put(k1, {"text": "one"})
    path = tmp_path / f"{k1[:2]}.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"key": "' + k2.encode() + b'", "text": "tw')  # killed mid-write
    reopened = Cache(tmp_path)
    assert reopened.get(k1)["text"] == "one" and reopened.get(k2) is None
    reopened.put(k3, {"text": "three"})
    assert Cache(tmp_path).get(k3)["text"] == "three"
    assert all(json.loads(x) for x in path.read_text().splitlines())
