"""`vit validate PATH`: the LLaVA data contract, checked before any training.

    vit validate data/export/llava/data.json          # exit 1 and one line per problem
    vit validate data/ingested/scenes                 # a vitflow dataset folder

Unparsable inputs count as errors too, named by line or index.
"""

from __future__ import annotations

from pathlib import Path

from vit.curate.contract import format_problems, validate
from vit.records import MANIFEST, Dataset
from vit.sources import guess_format, read_source


def validate_path(
    path: str | Path,
    fmt: str | None = None,
    image_root: str | Path | None = None,
    require_conversations: bool = False,
    limit: int = 50,
) -> tuple[bool, str]:
    """Validate a dataset folder or a data file; returns (ok, report text)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if p.is_dir() and (p / MANIFEST).exists() and fmt in (None, "vitflow"):
        ds = Dataset.open(p)
        records, root, parse_rejects = iter(ds), Path(image_root or ds.image_root), []
    else:
        src = read_source(fmt or guess_format(p), p, image_root)
        records, root, parse_rejects = src.records, src.image_root, src.rejects
    report = validate(records, root, check_files=True, require_conversations=require_conversations)
    lines = [f"{r.get('id') or '-'}  unparsable  {_where(r)}{r['reason']}" for r in parse_rejects]
    text = "\n".join(lines[:limit] + [format_problems(report, limit=max(0, limit - len(lines)))])
    n_records = len(report.valid) + len(report.invalid)
    ok = report.ok and not parse_rejects
    verdict = "OK" if ok else "FAILED"
    text += f"\n{verdict}: {n_records} records checked, {len(parse_rejects)} unparsable inputs"
    return ok, text


def _where(r: dict) -> str:
    for k in ("line", "index"):
        if r.get(k) is not None:
            return f"({k} {r[k]}) "
    return ""
