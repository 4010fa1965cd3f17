"""Dedup measured against the injected ground truth of the embedded scenes (`defects.jsonl`).

    scores = score_dedup("data/raw/scenes/defects.jsonl", duplicates_rows, kept_ids)
    scores = score_output("data/raw/scenes/defects.jsonl", "data/dedup/scenes")

A ground-truth group is an original and its injected copies (exact and near). An injected
copy that reached dedup (kept or removed; curate may have rejected it first) is *caught*
when the copy was removed, or when its original was removed as the duplicate of a member
of the same group (a keep policy may keep the copy: the redundancy is gone either way).

Per method, precision = removed records that belong to the duplicate's own ground-truth
group / records that method removed. Semantic, text and joint dedup also find clean scenes
that genuinely look alike (one small shape on a plain background): those count against
their precision here, and are listed separately as `clean_removed` so a reader can tell a
wrong removal of an injected defect from a look-alike pair the generator made by chance.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vit.records import Dataset, read_jsonl

DUP_KINDS = ("exact_duplicate", "near_duplicate")


def _groups(defects: list[dict[str, Any]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """{id: original id} for every member of a ground-truth group, and the copies' rows."""
    copies = [d for d in defects if d.get("kind") in DUP_KINDS and d.get("of")]
    group = {d["of"]: d["of"] for d in copies}
    group.update({d["id"]: d["of"] for d in copies})
    return group, copies


def _variant(row: dict[str, Any]) -> str:
    return row["detail"].split(":")[0] if row["kind"] == "near_duplicate" else ""


def _caught(row: dict[str, Any], removed: dict[str, dict], group: dict[str, str]) -> bool:
    if row["id"] in removed:
        return True
    orig = removed.get(row["of"])
    return orig is not None and group.get(orig.get("duplicate_of") or "") == row["of"]


def _recall(copies, removed, kept, group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in DUP_KINDS:
        rows = [r for r in copies if r["kind"] == kind]
        reached = [r for r in rows if r["id"] in removed or r["id"] in kept]
        hit = [r for r in reached if _caught(r, removed, group)]
        out[kind] = {
            "injected": len(rows),
            "reached": len(reached),
            "removed": len(hit),
            "recall": round(len(hit) / len(reached), 4) if reached else None,
        }
        if kind == "near_duplicate":
            by = defaultdict(lambda: [0, 0])
            for r in reached:
                by[_variant(r)][0] += 1
                by[_variant(r)][1] += int(_caught(r, removed, group))
            out[kind]["by_transform"] = {
                v: {"reached": n, "removed": h, "recall": round(h / n, 4)}
                for v, (n, h) in sorted(by.items())
            }
    return out


def _precision(removed: dict[str, dict], group: dict[str, str]) -> dict[str, Any]:
    stats: dict[str, Counter] = defaultdict(Counter)
    for rid, row in removed.items():
        s = stats[row.get("kind", "?")]
        s["removed"] += 1
        g = group.get(rid)
        if g is not None and group.get(row.get("duplicate_of") or "") == g:
            s["true"] += 1
        elif g is None:
            s["clean_removed"] += 1
    out = {}
    for kind, s in sorted(stats.items()):
        out[kind] = {
            "removed": s["removed"],
            "true": s["true"],
            "clean_removed": s["clean_removed"],
            "precision": round(s["true"] / s["removed"], 4) if s["removed"] else None,
        }
    return out


def score_dedup(
    defects_path: str | Path, duplicates_rows: Iterable[dict[str, Any]], kept_ids: Iterable[str]
) -> dict[str, Any]:
    """Recall per injected kind (and near transform), precision per dedup method."""
    defects = list(read_jsonl(defects_path))
    group, copies = _groups(defects)
    removed = {r["id"]: r for r in duplicates_rows}
    kept = set(kept_ids)
    methods = _precision({k: v for k, v in removed.items() if v.get("kind") != "review"}, group)
    image_kinds = [methods[k] for k in ("exact", "near") if k in methods]
    hash_removed = sum(m["removed"] for m in image_kinds)
    return {
        **_recall(copies, removed, kept, group),
        "methods": methods,
        "exact_near_precision": (
            round(sum(m["true"] for m in image_kinds) / hash_removed, 4) if hash_removed else None
        ),
    }


def score_output(defects_path: str | Path, out: str | Path) -> dict[str, Any]:
    """`score_dedup` over a dedup output folder (its kept shards and duplicates.jsonl)."""
    ds = Dataset.open(out)
    rows = read_jsonl(Path(out) / "duplicates.jsonl")
    return score_dedup(defects_path, rows, (r.id for r in ds))
