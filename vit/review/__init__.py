"""FiftyOne review: every pipeline decision visible, changeable, and versioned.

    sync(name, ingested=..., curated=..., deduped=..., embeddings=...)  -> SyncReport
    launch(name, address="127.0.0.1", port=5151)                        the App
    pull_overrides(name, out)                                           tags -> manifest

FiftyOne itself is imported only inside these functions (through vit.review.db, which sets
its environment first), so importing this package is cheap.
"""

from vit.review.app import launch
from vit.review.sync import SyncReport, sync
from vit.review.tags import pull_overrides, read_overrides

__all__ = ["SyncReport", "launch", "pull_overrides", "read_overrides", "sync"]
