"""What every `vit` command module shares: run a flow on the configured API, print JSON."""

from __future__ import annotations

import json
from typing import Any


def run_flow(
    flow_path: str, runner: tuple[str | None, str | None] = (None, None), **kwargs: Any
) -> dict[str, Any]:
    """Run a flow; `runner` = (task runner kind, Dask address) from the command line, if any."""
    from flows.runtime import ensure_api

    ensure_api()  # before prefect is imported: it reads PREFECT_API_URL once
    import importlib

    mod, name = flow_path.split(":")
    flow = getattr(importlib.import_module(mod), name)
    if any(runner):  # else the flow's own, from VIT_TASK_RUNNER (flows/runtime.py)
        from flows.runtime import task_runner

        flow = flow.with_options(task_runner=task_runner(*runner))
    return flow(**kwargs)


def print_json(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, indent=2, sort_keys=True, default=str))
