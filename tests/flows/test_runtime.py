"""One long-lived local Prefect server shared by every command (no per-stage startup)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flows import runtime


@pytest.mark.slow
def test_server_started_once_then_reused_and_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("VIT_PREFECT_SERVER", raising=False)
    try:
        url = runtime.ensure_api()
        assert url.startswith("http://127.0.0.1:") and runtime.healthy(url)
        first = runtime.running_server()
        monkeypatch.delenv("PREFECT_API_URL")
        assert runtime.ensure_api() == url  # reused: same server, same pid
        assert runtime.running_server()["pid"] == first["pid"]
    finally:
        assert runtime.stop_server()
    assert runtime.running_server() is None


def _servers_under(home: Path) -> list[int]:
    """Pids of `prefect server start` processes running with PREFECT_HOME=home (Linux /proc)."""
    found = subprocess.run(["pgrep", "-f", "prefect server start"], capture_output=True, text=True)
    mark = f"PREFECT_HOME={home}".encode()
    pids = []
    for pid in map(int, found.stdout.split()):
        try:
            if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                pids.append(pid)
        except OSError:
            continue
    return pids


@pytest.mark.slow
def test_commands_started_together_share_one_server(tmp_path, monkeypatch):
    """Two processes that need a server at the same moment start one between them (before
    the lock, each started its own and one was left running unrecorded)."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("VIT_PREFECT_SERVER", raising=False)
    code = "from flows import runtime; print(runtime.ensure_api())"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        urls = {p.communicate(timeout=120)[0].strip() for p in procs}
        assert all(p.returncode == 0 for p in procs) and len(urls) == 1
        assert _servers_under(tmp_path) == [runtime.running_server()["pid"]]
    finally:
        runtime.stop_server()
        for pid in _servers_under(tmp_path):  # what an unfixed start would leave behind
            os.kill(pid, signal.SIGTERM)


def test_explicit_api_url_wins(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
    assert runtime.ensure_api() == "http://127.0.0.1:1/api"


def test_ephemeral_opt_out(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("VIT_PREFECT_SERVER", "ephemeral")
    assert runtime.ensure_api() is None
