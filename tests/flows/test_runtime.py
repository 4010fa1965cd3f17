"""One long-lived local Prefect server shared by every command (no per-stage startup)."""

from __future__ import annotations

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


def test_explicit_api_url_wins(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
    assert runtime.ensure_api() == "http://127.0.0.1:1/api"


def test_ephemeral_opt_out(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("VIT_PREFECT_SERVER", "ephemeral")
    assert runtime.ensure_api() is None
