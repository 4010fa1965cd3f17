"""The saved views a reviewer opens from the App's view bar, rebuilt by every sync.

- `rejected`: everything ingest or curate dropped, by filter, with reason and value.
- `duplicates`: removed duplicates and the records they duplicate, one dynamic group per
  dup group (in the App: one tile per group; inside it, the survivor first).
- `leaky-splits`: kept records of dup groups that span more than one split. Dedup assigns
  splits by group, so this is expected to be empty; anything here is train/test leakage.

Views are stored queries, not copies: a sample re-tagged or re-synced shows up in them at
once.
"""

from __future__ import annotations

from typing import Any

REJECTED = "rejected"
DUPLICATES = "duplicates"
LEAKY_SPLITS = "leaky-splits"


def _matches() -> dict[str, Any]:
    """Which samples each view holds (as FiftyOne expressions)."""
    from fiftyone import ViewField as F

    return {
        REJECTED: F("status") == "rejected",
        DUPLICATES: (F("status") == "duplicate") | (F("dup_group_size") > 1),
        LEAKY_SPLITS: F("leaky_split") == True,  # noqa: E712 (a query, not a comparison)
    }


def make_view(ds: Any, name: str) -> Any:
    """The view `name` on `ds`, built fresh (what `save_views` stores)."""
    view = ds.match(_matches()[name])
    if name == DUPLICATES:
        # One dynamic group per dup group; "kept" sorts after "duplicate", so `reverse`
        # puts the survivor first inside each group.
        return view.group_by("dup_group", order_by="status", reverse=True)
    return view.sort_by("curate_filter" if name == REJECTED else "dup_group")


def save_views(ds: Any) -> dict[str, int]:
    """(Re)save every view on `ds`; returns how many samples (not groups) each one holds."""
    counts = {}
    for name, match in _matches().items():
        ds.save_view(name, make_view(ds, name), overwrite=True)
        counts[name] = ds.match(match).count()
    return counts
