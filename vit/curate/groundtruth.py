"""Curation measured against what the scene generator injected (`defects.jsonl`).

    from vit.curate.groundtruth import score_curation
    scores = score_curation("data/raw/scenes/defects.jsonl", ingest_ds.rejects(),
                            curated_ds.rejects(), (r.id for r in curated_ds))

Written to `metrics/curate.json`. For every defect kind that ingest or curate must catch:
how many were injected, how many either stage rejected (recall), and which stage did. For
every filter: how many records it rejected and how many of those were injected defects
(precision). `false_rejects` counts rejected records that are not such defects: clean
scenes, and duplicates, which are good images (dedup, not curate, removes them).

Malformed JSON lines cannot be matched by id: the reader never learns the id of a line it
cannot parse (its reject row has `id: null` and the `line`), while `defects.jsonl` records
the id the line would have had and no line number. They are matched by count: each
unparsable line is a catch, up to the number injected; any beyond are false rejects.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vit.records import read_jsonl

STAGES = ("ingest", "curate")
MALFORMED = "malformed_json"
UNPARSABLE = "ingest:unparsable"
_EXAMPLES = 10


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def reject_filters(row: dict[str, Any], stage: str) -> list[str]:
    """`stage:filter` names of one reject row (an ingest row may name several codes)."""
    if stage == "curate":
        return [f"curate:{row.get('filter') or row.get('reason')}"]
    if row.get("id") is None:
        return [UNPARSABLE]
    return [f"ingest:{c}" for c in row.get("codes") or [row.get("stage") or "read"]]


def score_curation(
    defects_path: str | Path,
    ingest_rejects: Iterable[dict[str, Any]],
    curate_rejects: Iterable[dict[str, Any]],
    kept_ids: Iterable[str],
) -> dict[str, Any]:
    """Recall per injected defect kind, precision per filter, and the false rejects."""
    defects = list(read_jsonl(defects_path))
    kind_of = {d["id"]: d for d in defects if d["kind"] != MALFORMED}
    rows = [(r, "ingest") for r in ingest_rejects] + [(r, "curate") for r in curate_rejects]
    by_id = {r["id"]: (stage, reject_filters(r, stage)) for r, stage in rows if r["id"]}
    n_unparsable = sum(1 for r, _ in rows if r["id"] is None)
    kept = set(kept_ids)
    kinds = _kinds(defects, by_id, n_unparsable, kept)
    return {
        "kinds": kinds,
        "recall": _recall_by_stage(kinds),
        **_precision(defects, kind_of, by_id, n_unparsable),
        "false_rejects": _false_rejects(kind_of, by_id, n_unparsable, defects),
        "kept": len(kept),
        "clean_kept": len(kept - set(kind_of)),
    }


def _target(d: dict[str, Any]) -> bool:
    return d["caught_by"] in STAGES


def _kinds(
    defects: list[dict[str, Any]], by_id: dict, n_unparsable: int, kept: set[str]
) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in defects:
        if _target(d):
            grouped[d["kind"]].append(d)
    out = {}
    for kind, items in sorted(grouped.items()):
        stages: Counter[str] = Counter()
        missed = []
        if kind == MALFORMED:
            stages["ingest"] = min(n_unparsable, len(items))
        else:
            for d in items:
                if d["id"] in by_id:
                    stages[by_id[d["id"]][0]] += 1
                else:
                    missed.append(d["id"])
        caught = sum(stages.values())
        out[kind] = {
            "expected_stage": items[0]["caught_by"],
            "injected": len(items),
            "caught": caught,
            "recall": _ratio(caught, len(items)),
            "caught_by_stage": dict(sorted(stages.items())),
            "missed": missed[:_EXAMPLES],
            "missed_but_kept": sum(1 for i in missed if i in kept),
        }
    return out


def _recall_by_stage(kinds: dict[str, Any]) -> dict[str, float | None]:
    tot: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    for k in kinds.values():
        for key in (k["expected_stage"], "all"):
            tot[key] += k["injected"]
            hit[key] += k["caught"]
    return {key: _ratio(hit[key], tot[key]) for key in sorted(tot)}


def _precision(
    defects: list[dict[str, Any]], kind_of: dict, by_id: dict, n_unparsable: int
) -> dict[str, Any]:
    rejected: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for rid, (_, filters) in by_id.items():
        good = rid in kind_of and _target(kind_of[rid])
        for f in filters:
            rejected[f] += 1
            correct[f] += good
    if n_unparsable:
        rejected[UNPARSABLE] = n_unparsable
        correct[UNPARSABLE] = min(n_unparsable, sum(d["kind"] == MALFORMED for d in defects))
    per = {
        f: {"rejected": rejected[f], "correct": correct[f], "precision": _ratio(correct[f], n)}
        for f, n in sorted(rejected.items())
    }
    total = sum(rejected.values())
    return {"precision_by_filter": per, "precision": _ratio(sum(correct.values()), total)}


def _false_rejects(
    kind_of: dict, by_id: dict, n_unparsable: int, defects: list[dict[str, Any]]
) -> dict[str, Any]:
    by_filter: Counter[str] = Counter()
    clean, dup_kinds = [], []
    for rid, (_, filters) in by_id.items():
        d = kind_of.get(rid)
        if d is not None and _target(d):
            continue
        (clean if d is None else dup_kinds).append(rid)
        by_filter.update(filters)
    extra = max(0, n_unparsable - sum(d["kind"] == MALFORMED for d in defects))
    if extra:
        by_filter[UNPARSABLE] += extra
    return {
        "total": len(clean) + len(dup_kinds) + extra,
        "clean": len(clean),
        "dedup_kinds": len(dup_kinds),
        "unparsable_beyond_injected": extra,
        "by_filter": dict(sorted(by_filter.items())),
        "examples": sorted(clean + dup_kinds)[:_EXAMPLES],
    }
