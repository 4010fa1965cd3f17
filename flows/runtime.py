"""Where flows report to: one long-lived local Prefect server instead of one per command.

Prefect 3 with no `PREFECT_API_URL` starts a temporary server for every process (about 10 s
here), so a `dvc repro` of five stages would pay it five times. vitflow instead starts one
real server (SQLite under PREFECT_HOME) bound to 127.0.0.1 the first time a flow runs, records
its address in `$PREFECT_HOME/vitflow-server.json`, and every later command reuses it:

    vit server start | status | stop

Set `PREFECT_API_URL` to use your own server (it always wins), or `VIT_PREFECT_SERVER=ephemeral`
to get Prefect's own per-process behaviour. This module must not import prefect at the top:
the API URL has to be in the environment before prefect reads its settings.

Where the tasks of the sharded flows (curate, dedup) run is a setting too, `task_runner()`:
a thread pool in the flow's process by default, or Dask across processes and machines:

    VIT_TASK_RUNNER=dask vit curate ...                                # LocalCluster, 127.0.0.1
    VIT_TASK_RUNNER=dask VIT_DASK_WORKERS=8 dvc repro
    vit dedup ... --task-runner dask --dask-address tcp://10.0.0.5:8786  # a running cluster
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vit.ports import free_port

QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "FIFTYONE_DO_NOT_TRACK": "true",
}


def quiet_defaults() -> None:
    """Never call home: set telemetry-off defaults unless the user chose otherwise."""
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()


def _state_file() -> Path:
    return prefect_home() / "vitflow-server.json"


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def running_server() -> dict | None:
    """The recorded vitflow server if it still answers, else None."""
    f = _state_file()
    if not f.exists():
        return None
    try:
        state = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    return state if healthy(state.get("api_url", "")) else None


def start_server(port: int | None = None, timeout: float = 60.0) -> dict:
    """Start `prefect server start` detached on 127.0.0.1 and wait until it answers."""
    quiet_defaults()
    port = port or free_port()
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "vitflow-server.log", "ab")  # noqa: SIM115 - handed to the child
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--analytics-off",
    ]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while not healthy(api_url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"Prefect server did not start; see {home / 'vitflow-server.log'}")
        time.sleep(0.3)
    state = {"api_url": api_url, "pid": proc.pid, "port": port}
    _state_file().write_text(json.dumps(state))
    return state


@contextmanager
def _server_lock():
    """One process at a time decides whether to start the server: two commands started
    together (seeds of an experiment run side by side) would otherwise both find none,
    both start one, and leave one running that no state file records."""
    import fcntl

    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "vitflow-server.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def shared_server(port: int | None = None) -> dict:
    """The recorded server if it answers, else a new one (under the lock)."""
    with _server_lock():
        return running_server() or start_server(port=port)


def stop_server() -> bool:
    state = running_server()
    _state_file().unlink(missing_ok=True)
    if not state:
        return False
    try:
        os.killpg(state["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def ensure_api() -> str | None:
    """Point this process at a Prefect API; returns the URL (None: Prefect's ephemeral mode)."""
    quiet_defaults()
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if os.environ.get("VIT_PREFECT_SERVER", "").lower() == "ephemeral":
        return None
    state = shared_server()
    os.environ["PREFECT_API_URL"] = state["api_url"]
    return state["api_url"]


# --- where tasks run -------------------------------------------------------------------------

TASK_RUNNERS = ("thread", "dask")
# A LocalCluster that never listens beyond this machine: scheduler, workers and nannies on
# loopback, and the dashboard (served only when bokeh is installed) too. One thread per
# worker process: curate's and dedup's work is CPU-bound Python, so processes scale it.
LOCAL_CLUSTER = {
    "host": "127.0.0.1",
    "dashboard_address": "127.0.0.1:8787",
    "processes": True,
    "threads_per_worker": 1,
}


def task_runner(
    kind: str | None = None, address: str | None = None, workers: int | None = None
) -> Any:
    """The Prefect task runner for the sharded flows: "thread" (default) or "dask".

    With "dask", tasks go to the Dask scheduler at `address` (a cluster you run), or else to
    a LocalCluster of `workers` processes (default: one per core) on 127.0.0.1, started for
    the flow run and closed after it. Arguments left as None come from VIT_TASK_RUNNER,
    VIT_DASK_ADDRESS and VIT_DASK_WORKERS; an address alone means "dask".
    """
    address = address or os.environ.get("VIT_DASK_ADDRESS") or None
    kind = (kind or os.environ.get("VIT_TASK_RUNNER") or ("dask" if address else "thread")).lower()
    if kind not in TASK_RUNNERS:
        raise ValueError(f"task runner must be one of {TASK_RUNNERS}, got {kind!r}")
    if kind == "thread":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    n = workers or int(os.environ.get("VIT_DASK_WORKERS") or 0) or os.cpu_count() or 1
    kwargs = {**LOCAL_CLUSTER, "n_workers": n}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=kwargs)
