"""The refresh's memory: the ledger (one outcome per file content), the counters, the lock.

ledger = load_ledger(state_dir)     # {sha256: {"status": "added" | "duplicate" | ...}}
state = load_state(state_dir)       # batches, added_total, since_training, last_training
with locked(state_dir): ...         # one refresh at a time per state folder
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vit.records import atomic_write_text, read_jsonl

LEDGER, STATE = "ledger.jsonl", "state.json"
STATUSES = ("added", "duplicate", "rejected")  # every new file content ends as one of these


def load_ledger(state_dir: Path) -> dict[str, dict[str, Any]]:
    """{sha256: outcome} of every file content any run has handled."""
    p = state_dir / LEDGER
    return {row["sha256"]: row for row in read_jsonl(p)} if p.exists() else {}


def load_state(state_dir: Path) -> dict[str, Any]:
    p = state_dir / STATE
    state = json.loads(p.read_text()) if p.exists() else {}
    return {"batches": 0, "added_total": 0, "since_training": 0, "last_training": None, **state}


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """One refresh at a time per state folder (a scheduled run and a manual one may overlap)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def retrain_due(state: dict[str, Any], threshold: int) -> bool:
    return state["since_training"] > 0 and state["since_training"] >= threshold


def mark_trained(state_dir: str | Path, note: dict[str, Any] | None = None) -> dict[str, Any]:
    """A retraining took (or was launched on) what accumulated: the counter starts again."""
    state_dir = Path(state_dir)
    with locked(state_dir):
        state = load_state(state_dir)
        state["last_training"] = {
            "at": time.time(),
            "records": state["since_training"],
            **(note or {}),
        }
        state["since_training"] = 0
        atomic_write_text(state_dir / STATE, json.dumps(state, indent=2, sort_keys=True))
    return state
