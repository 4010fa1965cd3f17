"""Curate a dataset: decode each image once, measure it, hash it, filter it, keep the reasons.

    from vit.curate.run import curate
    from vit.overrides import load_overrides
    summary = curate("data/ingested/scenes", "data/curated/scenes",
                     overrides=load_overrides("data/review/overrides.json"))

Kept records get `metadata["quality"]` (the stats the filters read), `metadata["hashes"]`
({"pixel", "phash", "dhash"}, what dedup reads, so it never decodes again) and
`metadata["flags"]`. Every dropped record becomes one line of `OUT/rejects.jsonl`:
`{"id", "stage": "curate", "filter", "reason", "value", "record"}`. The work runs shard by
shard through `vit.shards`, so memory holds one shard's records (never its images) and a
killed run redoes only unfinished shards.

Overrides come from human review (FiftyOne tags, saved as a JSON manifest): an id in
`reject` is dropped with filter "review"; an id in `keep` is kept although a quality filter
would drop it, but never when its image does not decode or its path is unsafe, nor when it
breaks the conversation contract: that refusal is written into `metadata["review"]`.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vit.curate.filters import (
    CurateConfig,
    Filter,
    Stats,
    build_filters,
    first_failure,
    record_flags,
)
from vit.curate.images import ImageError, PathResolver
from vit.curate.quality import analyze
from vit.overrides import normalize_overrides
from vit.records import REJECTS, Dataset, Record, read_jsonl, reject
from vit.shards import Step, run_sharded

STAGE = "curate"
VERSION = 1  # bump when the measures change: it is part of every shard's fingerprint
_FILE_KEYS = ("width", "height", "issues")  # on the record itself or in flags, not quality
# Unlike the contract's decode-only check (threads help from ~96 px), analyze() spends
# about half its time at 128 px in GIL-holding Python/numpy on small arrays. Measured on 2
# shared cores, best of 3, 1/2/3 threads (img/s): 64 px 2567/1898/1918, 128 px
# 1088/962/862, 256 px 320/328/372, 640x480 177/327/205. The stats are capped at 256 px a
# side, so only bigger images, whose decode and box-reduce release the GIL, gain. Across
# shards, the flow's task runner is the scale-out path.
_THREADS_FROM_PIXELS = 384 * 384
Analysis = tuple[dict[str, Any], dict[str, str]] | ImageError


def _pick_workers(config: CurateConfig, records: list[Record]) -> int:
    if config.workers is not None:
        return max(1, config.workers)
    # Records carry width/height from ingest: no file is opened to decide.
    sizes = [r.width * r.height for r in records if r.image and r.width and r.height]
    if not sizes or sum(sizes) / len(sizes) < _THREADS_FROM_PIXELS:
        return 1
    return min(8, (os.cpu_count() or 1) + 1)


def analyze_all(
    rels: list[str], resolver: PathResolver, max_pixels: int, workers: int = 1
) -> dict[str, Analysis]:
    """(stats, hashes) or the ImageError of each distinct image, decoded once each."""

    def one(rel: str) -> Analysis:
        try:
            return analyze(resolver.root, rel, max_pixels, resolver=resolver)
        except ImageError as e:
            return e

    todo = list(dict.fromkeys(rels))
    if workers <= 1 or len(todo) < 2:
        return {rel: one(rel) for rel in todo}
    with ThreadPoolExecutor(workers, thread_name_prefix="vit-curate") as pool:
        return dict(zip(todo, pool.map(one, todo), strict=True))


def curate_step(
    config: CurateConfig, image_root: str | Path, overrides: dict[str, Any] | None = None
) -> Step:
    """The per-shard step for `vit.shards`: records in, (kept, reject rows) out."""
    filters = build_filters(config)
    ov = normalize_overrides(overrides)
    review = {**dict.fromkeys(ov["keep"], "keep"), **dict.fromkeys(ov["reject"], "reject")}
    resolver = PathResolver(image_root)

    def step(records: list[Record]) -> tuple[list[Record], list[dict[str, Any]]]:
        # A reviewer's reject needs no decode; everything else is decoded once, here.
        rels = [r.image for r in records if r.image and review.get(r.id) != "reject"]
        found = analyze_all(rels, resolver, config.max_pixels, _pick_workers(config, records))
        kept, rejects = [], []
        for rec in records:
            analysis = found.get(rec.image) if rec.image else None
            row = judge(rec, analysis, filters, review.get(rec.id))
            if row is None:
                kept.append(rec)
            else:
                rejects.append(row)
        return kept, rejects

    return step


def judge(
    rec: Record, analysis: Analysis | None, filters: list[Filter], review: str | None = None
) -> dict[str, Any] | None:
    """Decide one record (annotating it in place): None to keep it, else its reject row.

    `review` is the reviewer's "keep" or "reject", or None.
    """
    if review == "reject":
        rec.metadata["review"] = {"decision": "reject"}
        return _row(rec, "review", "review_reject", None)
    stats = _annotate(rec, analysis)
    failed = first_failure(filters, rec, stats)
    if failed is not None:
        f, reason, value = failed
        if review != "keep":
            return _row(rec, f.name, reason, value)
        if not f.overridable:
            why = f"'keep' refused: the {f.name} filter cannot be overruled ({reason})"
            rec.metadata["review"] = {"decision": "keep", "refused": why, "overruled": None}
            return _row(rec, f.name, reason, value)
        overruled = {"filter": f.name, "reason": reason, "value": value}
        rec.metadata["review"] = {"decision": "keep", "overruled": overruled}
    elif review == "keep":
        rec.metadata["review"] = {"decision": "keep", "overruled": None}
    rec.metadata["flags"] = record_flags(rec, stats)
    return None


def _annotate(rec: Record, analysis: Analysis | None) -> Stats:
    """Put the measures and hashes on the record (kept or not: reviewers want to see them)."""
    if not isinstance(analysis, tuple):
        return analysis  # an ImageError, or None for a text-only record
    stats, hashes = analysis
    rec.width, rec.height = stats["width"], stats["height"]
    rec.metadata["quality"] = {k: v for k, v in stats.items() if k not in _FILE_KEYS}
    rec.metadata["hashes"] = dict(hashes)
    return stats


def _row(rec: Record, name: str, reason: str, value: Any) -> dict[str, Any]:
    return reject(rec.id, STAGE, reason, filter=name, value=value, record=rec.to_dict())


def curate_params(config: CurateConfig, overrides: dict[str, Any] | None = None) -> dict:
    """What a shard's fingerprint covers: code version, thresholds, review decisions."""
    ov = normalize_overrides(overrides)
    return {"stage": STAGE, "version": VERSION, "config": config.params(), "overrides": ov}


def curate(
    src: str | Path,
    out: str | Path,
    config: CurateConfig | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Curate the dataset `src` into `out` (kept shards + rejects.jsonl); returns a summary.

    Reruns skip shards whose input, config and overrides are unchanged.
    """
    config = config or CurateConfig()
    ds = Dataset.open(src)
    params = curate_params(config, overrides)
    step = curate_step(config, ds.image_root, overrides)
    info = {"stage": STAGE, "src": str(src), "config": config.params()}
    out_ds = run_sharded(src, out, step, params, info=info, progress=progress)
    return summarize(out_ds)


def summarize(ds: Dataset) -> dict[str, Any]:
    """Counts for metrics: kept, rejected by filter and by reason, flags, review decisions."""
    rejects = list(read_jsonl(ds.path / REJECTS))
    flags: Counter[str] = Counter()
    review: Counter[str] = Counter()
    for name in ds.shards:  # raw JSON, not Records: only two metadata keys are needed
        for d in read_jsonl(ds.path / name):
            flags.update(d["metadata"].get("flags") or [])
            if d["metadata"].get("review"):
                review["kept_over_filter" if d["metadata"]["review"]["overruled"] else "kept"] += 1
    for r in rejects:
        rv = (r.get("record") or {}).get("metadata", {}).get("review")
        if rv:
            review["rejected" if rv["decision"] == "reject" else "keep_refused"] += 1
    return {
        "read": ds.count + len(rejects),
        "kept": ds.count,
        "rejected": len(rejects),
        "rejected_by_filter": dict(sorted(Counter(r["filter"] for r in rejects).items())),
        "rejected_by_reason": dict(sorted(Counter(r["reason"] for r in rejects).items())),
        "flagged": dict(sorted(flags.items())),
        "review": dict(sorted(review.items())),
    }
