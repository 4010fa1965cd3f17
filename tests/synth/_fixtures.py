"""Shared helpers for the synth tests: scenes in memory, tiny datasets, turn extraction."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vit.records import Record, write_dataset
from vit.sources.scenes import make_scene
from vit.synth.backends.base import Request
from vit.synth.parse import parse


def scenes(n: int, seed: int = 0, size: int = 32, start: int = 0) -> list[Record]:
    """Scene records (annotations exact); the images are drawn but never written."""
    return [make_scene(seed, i, size)[0] for i in range(start, start + n)]


def dataset(path: Path, records: list[Record], shard_size: int = 10) -> Path:
    write_dataset(path, records, image_root=path, shard_size=shard_size)
    return path


def request(rec: Record, kind: str, salt: str = "") -> Request:
    key = hashlib.sha256(f"{rec.id}/{kind}/{salt}".encode()).hexdigest()
    return Request(key=key, type=kind, messages=[], record=rec)


def turns(kind: str, text: str) -> list[tuple[str, str]]:
    parsed = parse(kind, text)
    assert parsed.ok, (parsed.error, text)
    return parsed.turns


def conversation_text(qa: list[tuple[str, str]]) -> str:
    return json.dumps({"conversation": [{"question": q, "answer": a} for q, a in qa]})
