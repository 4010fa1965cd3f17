"""Deployments: register prefect.yaml with a Prefect server, run a worker, or serve them.

    vit deploy              # process work pool + `llm` limit + every deployment of prefect.yaml
    vit worker              # a process worker on the pool: runs scheduled and triggered runs
    vit serve               # one process instead of deploy + worker: schedules and runs them
    prefect deployment ls   # what is registered

All three talk to PREFECT_API_URL when it is set, else to vitflow's local server on
127.0.0.1 (flows/runtime.py), started if it is not running. `vit deploy` is `prefect deploy
--all` with the two things it does not do: create the work pool (a non-interactive deploy
refuses a missing one) and the tag concurrency limit the LLM tasks share.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

POOL = "vitflow-process"
LLM_TAG = "llm"  # flows/synth.py tags its LLM task with it


def _api() -> str:
    from flows.runtime import ensure_api

    url = ensure_api()
    if url is None:  # VIT_PREFECT_SERVER=ephemeral: nothing would outlive this process
        raise ValueError(
            "deployments need a lasting Prefect server: set PREFECT_API_URL or unset VIT_PREFECT_SERVER"
        )
    return url


def specs(prefect_file: str | Path = "prefect.yaml") -> list[dict[str, Any]]:
    """The `deployments` of a prefect.yaml."""
    import yaml

    path = Path(prefect_file)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (run vit from the repository root)")
    return list((yaml.safe_load(path.read_text()) or {}).get("deployments") or [])


def ensure_work_pool(name: str = POOL) -> bool:
    """Create the process work pool unless it exists; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def ensure_tag_limit(tag: str = LLM_TAG, limit: int = 1) -> None:
    """At most `limit` task runs tagged `tag` at once across every flow run on the server
    (an upsert: running deploy again with another number changes it)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=tag, concurrency_limit=limit)


def deploy(prefect_file: str | Path = "prefect.yaml", llm_limit: int = 1) -> dict[str, Any]:
    """Register every deployment of `prefect_file`; returns the API URL, names, pools made."""
    api = _api()
    path = Path(prefect_file).resolve()
    pools = sorted({d.get("work_pool", {}).get("name") or POOL for d in specs(path)})
    created = [p for p in pools if ensure_work_pool(p)]
    if llm_limit > 0:
        ensure_tag_limit(LLM_TAG, llm_limit)
    # The pull step's {{ $VITFLOW_ROOT }}: the checkout the worker runs the flows in.
    env = {**os.environ, "VITFLOW_ROOT": str(path.parent)}
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "deploy",
        "--all",
        "--no-prompt",
        "--prefect-file",
        str(path),
    ]
    out = subprocess.run(cmd, cwd=path.parent, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"prefect deploy failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    names = re.findall(r"Deployment '([^']+)' successfully created", out.stdout)
    return {
        "api_url": api,
        "deployments": names,
        "work_pools_created": created,
        "llm_limit": llm_limit,
    }


def worker(pool: str = POOL, run_once: bool = False, limit: int | None = None) -> int:
    """`prefect worker start` on the process pool, against the same API; its exit status.
    With `run_once` it takes the runs due now, waits for them to finish, and exits."""
    _api()
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    cmd += ["--run-once"] if run_once else []
    cmd += ["--limit", str(limit)] if limit else []
    return subprocess.call(cmd)


def runner_deployments(prefect_file: str | Path = "prefect.yaml") -> list[Any]:
    """prefect.yaml's deployments as `flow.to_deployment(...)` objects for `prefect.serve`:
    the same names, parameters, tags, limits and cron schedules, one file to keep true."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    root = Path(prefect_file).resolve().parent
    out = []
    for d in specs(prefect_file):
        file, _, func = d["entrypoint"].partition(":")
        flow = load_flow_from_entrypoint(f"{root / file}:{func}")
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in d.get("schedules") or []
            if s.get("cron")
        ]
        out.append(
            flow.to_deployment(
                name=d["name"],
                description=d.get("description"),
                parameters=d.get("parameters"),
                tags=d.get("tags"),
                concurrency_limit=d.get("concurrency_limit"),
                schedules=schedules or None,
            )
        )
    return out


def serve(prefect_file: str | Path = "prefect.yaml", llm_limit: int = 1) -> None:
    """Serve every deployment from this process until Ctrl-C (no work pool, no worker)."""
    _api()
    if llm_limit > 0:
        ensure_tag_limit(LLM_TAG, llm_limit)
    path = Path(prefect_file).resolve()
    os.chdir(path.parent)  # runs start here: params.yaml and data/ are relative to it
    from prefect import serve as prefect_serve

    prefect_serve(*runner_deployments(path))
