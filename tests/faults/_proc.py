"""Real processes for the fault tests: start `vit`, wait for a sign of progress, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PARAMS = "none.yaml"  # absent: every stage runs on its defaults plus the --set flags


def vit_env(prefect_api: str, **extra: str) -> dict[str, str]:
    """The environment of a `vit` child: the test session's Prefect server, no telemetry."""
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=prefect_api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        FIFTYONE_DO_NOT_TRACK="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def vit_argv(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("vit")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "flows.cli"]
    return [*head, "--params", PARAMS, *args]


def start(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child whose stdout and stderr go to `log` (read it back on failure)."""
    f = open(log, "wb")  # noqa: SIM115 - the child owns it; closed when we wait
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    finally:
        f.close()


def wait_for(
    proc: subprocess.Popen, ready: Callable[[], Any], log: Path, timeout: float = 120
) -> Any:
    """Poll `ready()` until it returns something truthy; fail if the child ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = ready()
        if got:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"child ended ({proc.returncode}) first:\n{tail(log)}")
        time.sleep(0.005)
    proc.kill()
    raise AssertionError(f"no progress within {timeout:.0f} s:\n{tail(log)}")


def kill9(proc: subprocess.Popen) -> None:
    """SIGKILL: no cleanup, no atexit, no finally: a real crash."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the child had already finished"


def finish(argv: list[str], cwd: Path, env: dict[str, str], log: Path, timeout=300) -> dict:
    """Run to the end; the summary JSON the command prints last."""
    proc = start(argv, cwd, env, log)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, f"{argv[1:4]} exited {proc.returncode}:\n{tail(log)}"
    return last_json(log.read_text(errors="replace"))


def last_json(text: str) -> dict:
    """The last top-level JSON object in a log (the CLI prints its summary indented)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == "{":
            end = lines.index("}", i)
            return json.loads("\n".join(lines[i : end + 1]))
    raise AssertionError(f"no JSON summary in:\n{text[-3000:]}")


def tail(log: Path, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else "(no log)"
