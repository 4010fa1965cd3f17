"""Fixtures of the AL tests (defined in tests/active/_cfg.py, shared with tests/flows)."""

from __future__ import annotations

import pytest

from tests.active import _cfg

al_data, al_model, one_thread = _cfg.al_data, _cfg.al_model, _cfg.one_thread


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def pytest_configure(config: pytest.Config) -> None:
    # Deprecation notices raised inside FiftyOne's dependencies, not by vitflow's code.
    for spec in (
        "ignore:Passing a class to strawberry.scalar:DeprecationWarning",
        "ignore:No uuidRepresentation is specified:DeprecationWarning",
    ):
        config.addinivalue_line("filterwarnings", spec)
