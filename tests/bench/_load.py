"""Load a bench/ script as a module (bench/ is not a package), for the tests beside it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name: str) -> Iterator[ModuleType]:
    """Yield bench/NAME.py as the module `bench_NAME`; unregistered afterwards (a fixture)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while it is executing
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)
