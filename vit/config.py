"""params.yaml: one section per stage. Commands read their section; flags override it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_PARAMS = "params.yaml"


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """All sections of params.yaml, or {} when the file is absent (library use outside a repo)."""
    import yaml

    p = Path(path)
    if not p.exists():
        return {}
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of stage sections, got {type(data).__name__}")
    return data


def section(name: str, path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    sec = load_params(path).get(name) or {}
    if not isinstance(sec, dict):
        raise ValueError(f"{path}: section {name!r} must be a mapping")
    return sec
