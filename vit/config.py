"""params.yaml: one section per stage. Commands read their section; flags override it."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

DEFAULT_PARAMS = "params.yaml"


def param_field(default: Any, help: str) -> Any:
    """A config dataclass field with its help text (shown by `--help` and the README); a list
    or dict default is copied per instance."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help})
    return field(default=default, metadata={"help": help})


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


def build(cls: type, values: dict[str, Any] | None, where: str = "params.yaml") -> Any:
    """A config dataclass from a params section; unknown keys are an error that names them.

    Every field of a vitflow config has a default, so an empty section gives the defaults.
    """
    import dataclasses

    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} keys {unknown}; known: {sorted(names)}")
    return cls(**values)


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(name, default, help) for each field: what `vit <stage> --help-config` prints."""
    import dataclasses

    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows
