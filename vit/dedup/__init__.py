"""Deduplication: exact, near, semantic (SemDeDup), instruction text and joint; leak-free splits.

    from vit.dedup import DedupConfig, dedup, score_dedup
    summary = dedup("data/curated/scenes", "data/dedup/scenes", DedupConfig())

One module per algorithm, each answering with `groups.Pairs` (row pairs + similarity):

    exact.py     pixel sha256 groups              near.py      pHash/dHash + FAISS binary, checked
    semantic.py  FAISS flat / SemDeDup k-means    text.py      MiniLM instruction text, joint
    groups.py    components, keep policies        splits.py    splits per duplicate group, leakage
    run.py       DedupConfig and dedup()          groundtruth.py  scores against defects.jsonl

Names load lazily so `import vit.dedup` costs nothing until something is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DedupConfig": "vit.dedup.config",
    "dedup": "vit.dedup.run",
    "score_dedup": "vit.dedup.groundtruth",
    "score_output": "vit.dedup.groundtruth",
    "leakage": "vit.dedup.splits",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vit.dedup' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
