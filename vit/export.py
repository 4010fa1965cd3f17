"""Export a vitflow dataset to what trainers take.

vit export --format llava data/ingested/scenes --out data/export/llava
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vit.records import Dataset, read_jsonl
from vit.sources import write_export


def export_dataset(fmt: str, src: str | Path, out: str | Path) -> dict[str, Any]:
    ds = Dataset.open(src)
    main = write_export(fmt, ds, ds.image_root, out)
    skipped = Path(out) / "export_rejects.jsonl"
    n_skipped = sum(1 for _ in read_jsonl(skipped)) if skipped.exists() else 0
    return {"format": fmt, "written": ds.count - n_skipped, "skipped": n_skipped, "path": str(main)}
