"""Every generation, stored under a content key, so nothing is paid for twice.

    key = sha256(backend, model, template hash, rendered messages, sampling params)

Layout (a plain folder DVC can track and push):

    CACHE/ab.jsonl    one JSON line per generation whose key starts with `ab` (256 files)

A line is appended with one `write` as soon as its answer arrives, so a run killed halfway
keeps everything it was answered; a line torn by the kill is cut off the next time the file
is read. `compact()` rewrites each touched file atomically, sorted by key, one line per key:
equal content, equal bytes. Failed generations are never cached, so a rerun retries them.
JSON only, no pickle: the cache is data, safe to share.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from vit.records import atomic_write_text


def cache_key(
    backend: str, model: str, template: str, messages: list[dict], sampling: dict[str, Any]
) -> str:
    """The identity of a generation: what produced it and exactly what it was asked."""
    blob = json.dumps(
        {
            "backend": backend,
            "model": model,
            "template": template,
            "messages": messages,
            "sampling": sampling,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    """Lazily loaded, append-only store of generations keyed by `cache_key`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._files: dict[str, dict[str, dict[str, Any]]] = {}
        self._dirty: set[str] = set()

    def _path(self, prefix: str) -> Path:
        return self.root / f"{prefix}.jsonl"

    def _load(self, prefix: str) -> dict[str, dict[str, Any]]:
        if prefix in self._files:
            return self._files[prefix]
        entries: dict[str, dict[str, Any]] = {}
        path = self._path(prefix)
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):  # torn by a kill: drop the partial line
                data = data[: data.rfind(b"\n") + 1]
                os.truncate(path, len(data))
            for line in data.splitlines():
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if isinstance(e, dict) and isinstance(e.get("key"), str):
                    entries[e["key"]] = e
        self._files[prefix] = entries
        return entries

    def get(self, key: str) -> dict[str, Any] | None:
        return self._load(key[:2]).get(key)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store `entry` (JSON-able) under `key`, appending one line in one write."""
        entry = {**entry, "key": key}
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        self._load(key[:2])[key] = entry
        fd = os.open(self._path(key[:2]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        self._dirty.add(key[:2])

    def __len__(self) -> int:
        return sum(len(self._load(p.stem)) for p in self.root.glob("??.jsonl"))

    def compact(self) -> int:
        """Rewrite every file this process appended to: sorted, deduplicated, atomic."""
        for prefix in sorted(self._dirty):
            rows = sorted(self._load(prefix).values(), key=lambda e: e["key"])
            text = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in rows)
            atomic_write_text(self._path(prefix), text)
        n, self._dirty = len(self._dirty), set()
        return n
