"""Reviewer decisions that flow back into the pipeline: `{"reject": [ids], "keep": [ids]}`.

Written by `vit review pull` from FiftyOne tags (a DVC-tracked manifest), read by curate
and dedup: a `reject` id is dropped, a `keep` id is restored where that is safe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_overrides(path: str | Path | None) -> dict[str, list[str]]:
    """The manifest at `path`; a missing file means no review has happened yet."""
    if path is None or not Path(path).exists():
        return {"reject": [], "keep": []}
    data = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object with 'reject' and 'keep' id lists")
    return normalize_overrides(data)


def normalize_overrides(overrides: dict[str, Any] | None) -> dict[str, list[str]]:
    """Sorted, unique string ids; an id in both lists is rejected (the cautious reading)."""
    overrides = overrides or {}
    rej = sorted({str(i) for i in overrides.get("reject") or []})
    keep = sorted({str(i) for i in overrides.get("keep") or []} - set(rej))
    return {"reject": rej, "keep": keep}
