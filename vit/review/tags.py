"""Reviewer decisions, read back from FiftyOne sample tags into a versioned manifest.

In the App a reviewer tags samples:

- `reject`: drop this record. The next curate and dedup runs drop it, whatever its status.
- `keep`: on a removed duplicate or a rejected record, bring it back. The next run keeps it.

    vit review pull  ->  pull_overrides("vitflow", Path("data/overrides.json"))

writes the manifest the curate and dedup stages read (DVC tracks it, so every override is
versioned and `dvc repro` re-runs exactly the stages it changes):

    {"keep": ["scene-000123", ...], "reject": ["scene-000042", ...]}

Ids are sorted and the JSON is stable, so an unchanged set of tags rewrites identical bytes
(DVC sees no change). A record tagged both ways is rejected: dropping is the safe side.
A `keep` stays in the manifest while its tag stays, even after the next run has restored
the record (its status is then "kept"): otherwise the run after that would remove it again.
"""

from __future__ import annotations

import json
from pathlib import Path

from vit.overrides import load_overrides
from vit.records import atomic_write_text

REJECT_TAG = "reject"
KEEP_TAG = "keep"
REMOVED = ("rejected", "duplicate")


def pull_overrides(name: str, out: str | Path) -> dict[str, list[str]]:
    """Read the `reject` / `keep` sample tags of FiftyOne dataset `name` into `out` (JSON,
    written atomically); returns the manifest."""
    from vit.review.db import load_fiftyone

    fo = load_fiftyone()
    ds = fo.load_dataset(name)
    tagged = ds.match_tags([REJECT_TAG, KEEP_TAG])
    rows = zip(*tagged.values(["vit_id", "tags", "status"]), strict=True)
    previous_keep = set(read_overrides(out)["keep"])
    reject: set[str] = set()
    keep: set[str] = set()
    for vit_id, tags, status in rows:
        if REJECT_TAG in tags:
            reject.add(vit_id)
        elif KEEP_TAG in tags and (status in REMOVED or vit_id in previous_keep):
            keep.add(vit_id)
    manifest = {"keep": sorted(keep), "reject": sorted(reject)}
    atomic_write_text(out, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


# The manifest's one reader lives in vit.overrides (the stages use it without FiftyOne).
read_overrides = load_overrides
