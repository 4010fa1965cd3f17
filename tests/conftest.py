"""Shared fixtures. Prefect's harness is session-scoped: one temporary server for the suite."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(autouse=True)
def _prefect_console_outlives_the_test_capture():
    """Prefect (re)builds its console log handler with the sys.stderr of that moment, and an
    in-process server start does so again. Built inside a test that captures output
    (capsys), the handler kept that test's stream, closed after it, and a later flow run
    failed writing its logs ("I/O operation on closed file": tests/test_cli.py, then
    tests/flows/test_active.py). After each test, such a handler gets the live stderr back."""
    yield
    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is None:
        return
    import logging

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for lg in loggers:
        for h in getattr(lg, "handlers", []):
            if isinstance(h, handlers.PrefectConsoleHandler) and h.console.file.closed:
                h.console.file = sys.stderr


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """A real Prefect server (SQLite in a temp dir) for the whole session; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def fiftyone_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Yields the URI of a temporary FiftyOne database (bundled mongod, 127.0.0.1)."""
    from vit.review.db import temporary_database

    if "fiftyone" in sys.modules:
        import fiftyone.core.odm.database as fodb

        if fodb._client is not None:
            pytest.fail("fiftyone connected to a database before the review tests' own")
    with temporary_database(tmp_path_factory.mktemp("fiftyone")) as uri:
        yield uri
