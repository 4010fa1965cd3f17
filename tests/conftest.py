"""Shared fixtures. Prefect's harness is session-scoped: one temporary server for the suite."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


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
