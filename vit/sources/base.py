"""What every reader returns, so ingest, validate and export treat all formats alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vit.records import Record


@dataclass
class Source:
    """The image root, a lazy stream of parsed records, and the inputs refused while parsing.

    `rejects` fills up as `records` is consumed: one dict per refused input (see
    `vit.records.reject`), so one bad record never stops the rest.
    """

    image_root: Path
    records: Iterator[Record]
    rejects: list[dict[str, Any]] = field(default_factory=list)
