"""The synth fault tests' shared pieces: a scenes dataset, and which generation each request
to the fake server asked for (its cache key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vit.records import Dataset, write_dataset
from vit.sources.scenes import make_scene
from vit.synth.cache import cache_key
from vit.synth.config import SynthConfig
from vit.synth.run import plan_types, sampling
from vit.synth.templates import render, template_hash

MODEL = "fake-llm"


def scenes_dataset(path: Path, n: int, shard_size: int) -> Path:
    """n embedded scenes (annotations exact; the images are not needed to synthesize)."""
    write_dataset(path, [make_scene(5, i, 32)[0] for i in range(n)], path, shard_size=shard_size)
    return path


def settings(url: str, cache: Path, **kw: Any) -> dict[str, Any]:
    """The synthesize params of these tests: the openai backend against the fake server."""
    return {
        "backend": "openai",
        "model": MODEL,
        "base_url": url,
        "cache_dir": str(cache),
        "dedup": False,  # MiniLM dedup is not what these tests are about
        **kw,
    }


def _ident(messages: list, seed: Any) -> str:
    return json.dumps([messages, seed], sort_keys=True)


def planned_keys(src: Path, params: dict[str, Any]) -> dict[str, str]:
    """What the run will ask for: request identity (messages + seed) -> cache key."""
    cfg = SynthConfig.from_dict(params)
    keys = {}
    for rec in Dataset.open(src):
        for kind, k in plan_types(rec.id, cfg):
            msgs, s = render(kind, rec), sampling(cfg, kind, k)
            keys[_ident(msgs, s["seed"])] = cache_key("openai", MODEL, template_hash(kind), msgs, s)
    return keys


def key_of(body: dict[str, Any], keys: dict[str, str]) -> str:
    return keys[_ident(body["messages"], body.get("seed"))]


def cached_keys(cache: Path) -> set[str]:
    """Keys of the complete lines in the cache folder (a line torn by a kill is not one)."""
    out = set()
    for f in cache.glob("??.jsonl"):
        for line in f.read_bytes().split(b"\n"):
            try:
                out.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue
    return out


def outputs(out: Path) -> dict[str, dict]:
    """Output records by id, without the one field that differs run to run (answer time)."""
    recs = {}
    for rec in Dataset.open(out):
        d = rec.to_dict()
        d["metadata"]["synth"].pop("time")
        assert d["id"] not in recs, f"{d['id']} written twice"
        recs[d["id"]] = d
    return recs
