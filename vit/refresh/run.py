"""One refresh run: scan, ingest + curate, dedup against everything seen, append, synthesize
(the steps are listed in vit/refresh/__init__.py)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from vit.config import param_field as _f
from vit.records import Dataset, atomic_write_text, write_jsonl, write_manifest
from vit.refresh.incoming import load_records_sidecar, scan
from vit.refresh.ledger import (
    LEDGER,
    STATE,
    STATUSES,
    load_ledger,
    load_state,
    locked,
    retrain_due,
)

ID_PREFIX = "incoming-"


@dataclass
class RefreshConfig:
    """params.yaml's `refresh` section."""

    incoming: str = _f("data/incoming", "folder new images are dropped into (+ captions sidecar)")
    seen: list[str] = _f(["data/deduped/scenes"], "datasets new images are deduplicated against")
    dataset: str = _f("data/refresh/scenes", "the dataset that grows by one shard per refresh")
    state: str = _f("data/refresh/state", "ledger (content hash -> outcome), batches, counters")
    threshold: int = _f(200, "records added since the last training that make retraining due")
    # Folder images arrive without instructions, so the instruction-text methods (text,
    # joint) have nothing to compare; the image methods do the work.
    methods: list[str] = _f(["exact", "near", "semantic"], "dedup methods run on new images")
    retrain_deployment: str = _f("", "flows only: deployment a due retraining runs ('': report)")
    synth_out: str = _f("data/refresh/synth", "instructions for the added records ('': none)")
    synth: dict = _f({}, "SynthConfig fields over params.yaml's `synthesize` (e.g. {per_image: 2})")


def refresh(
    config: RefreshConfig, params: dict[str, Any] | None = None, progress: bool = False
) -> dict[str, Any]:
    """One refresh run; `params` are params.yaml's sections (ingest, curate, dedup, synthesize
    are read)."""
    t0 = time.perf_counter()
    state_dir = Path(config.state)
    with locked(state_dir):
        ledger = load_ledger(state_dir)
        state = load_state(state_dir)
        files, sidecar = scan(Path(config.incoming))
        notes, note_rejects = load_records_sidecar(Path(config.incoming))
        new: dict[str, list[str]] = {}
        for rel, sha in files:
            if sha in ledger:  # seen before, perhaps under another name: remember the name
                ledger[sha]["files"] = sorted(set(ledger[sha]["files"]) | {rel})
            else:
                new.setdefault(sha, []).append(rel)
        summary: dict[str, Any] = {"files": len(files), "new": len(new), "batch": None}
        summary["sidecar_rejects"] = note_rejects
        outcomes: dict[str, dict[str, Any]] = {}
        if new:
            batch = state["batches"] + 1
            work = state_dir / "batches" / f"{batch:05d}"
            outcomes, info = _run_batch(
                config, params or {}, work, batch, new, (sidecar, notes), progress
            )
            for sha, out in outcomes.items():
                ledger[sha] = {"sha256": sha, "files": sorted(new[sha]), "batch": batch, **out}
            added = sum(o["status"] == "added" for o in outcomes.values())
            state.update(batches=batch, added_total=state["added_total"] + added)
            state["since_training"] += added
            summary.update(batch=batch, dedup=info, unaccounted=sorted(set(new) - set(outcomes)))
        write_jsonl(state_dir / LEDGER, [ledger[k] for k in sorted(ledger)])
        atomic_write_text(state_dir / STATE, json.dumps(state, indent=2, sort_keys=True))
        # After the ledger: a failed synthesis never re-adds records; the next run sees the
        # instructions behind the dataset and finishes them.
        summary.update(_synthesize(config, params or {}, progress))
    by = {
        st: [_brief(ledger[h]) for h, o in outcomes.items() if o["status"] == st] for st in STATUSES
    }
    summary.update(added=len(by["added"]), added_ids=[r["id"] for r in by["added"]])
    summary.update(duplicates=by["duplicate"], rejected=by["rejected"])
    summary["seen_missing"] = [p for p in config.seen if not _exists(p)]
    summary["dataset_count"] = Dataset.open(config.dataset).count if _exists(config.dataset) else 0
    summary.update(since_training=state["since_training"], threshold=config.threshold)
    summary["retrain_due"] = retrain_due(state, config.threshold)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def _exists(dataset: str | Path) -> bool:
    return (Path(dataset) / "vitflow.json").exists()


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("files", "id", "duplicate_of", "kind", "similarity", "stage", "reason")
    return {k: row[k] for k in keys if row.get(k) is not None}


# --- one batch ----------------------------------------------------------------------------------


def _run_batch(
    config: RefreshConfig,
    params: dict[str, Any],
    work: Path,
    batch: int,
    new: dict[str, list[str]],
    sidecars: tuple[Path | None, dict[str, Any]],
    progress: bool,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Stage, ingest, curate, dedup and append the new files: ({sha256: outcome}, dedup info).
    `sidecars`: the captions file and the records sidecar's {relative path: Record}."""
    from vit.config import build
    from vit.curate.filters import CurateConfig
    from vit.curate.run import curate
    from vit.dedup.config import DedupConfig
    from vit.ingest import ingest

    sidecar, notes = sidecars
    by_id = _stage(Path(config.incoming), work / "incoming", new, sidecar, notes)
    ing = params.get("ingest") or {}
    opts = {k: ing[k] for k in ("max_pixels", "workers") if ing.get(k) is not None}
    ingest("folder", work / "incoming", work / "ingested", **opts)
    cur = build(CurateConfig, params.get("curate"), "params.yaml: curate")
    curate(work / "ingested", work / "curated", cur, progress=progress)
    outcomes = _rejected(work, by_id)
    # keep="first" with old rows first: what is already in the dataset is never the copy
    # that goes; the rest of the dedup section (thresholds, embedder, cache) applies as is.
    dd = {**(params.get("dedup") or {}), "methods": list(config.methods)}
    ded = replace(build(DedupConfig, dd, "params.yaml: dedup"), keep="first")
    found, info = _dedup(config, ded, Dataset.open(work / "curated"), by_id, progress)
    outcomes.update(found)
    accepted = info.pop("accepted")
    for rec in accepted:  # provenance: which drop, which bytes, under which names
        sha = by_id[rec.id]
        rec.metadata["refresh"] = {"batch": batch, "sha256": sha, "files": sorted(new[sha])}
        note = next((notes[r] for r in sorted(new[sha]) if r in notes), None)
        if note is not None:  # the image methods deduped the pixels; the boxes ride along
            rec.annotations = list(note.annotations)
            rec.metadata["refresh"]["record_id"] = note.id
    if accepted:
        _append(Path(config.dataset), Dataset.open(work / "curated"), accepted, batch)
    return outcomes, info


def _stage(
    incoming: Path,
    stage: Path,
    new: dict[str, list[str]],
    sidecar: Path | None,
    notes: dict[str, Any],
) -> dict[str, str]:
    """Copy each new content once, named by its hash (so ids never collide across batches,
    and a folder of `img001.png`s every night is fine); carry its captions (from either
    sidecar, so curate's text filters see them). {id: sha256}."""
    from vit.sources.folder import _load_captions

    if stage.exists():  # a crashed earlier try of this batch
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    captions = _load_captions(sidecar, []) if sidecar else {}
    by_id, rows = {}, []
    for sha, rels in sorted(new.items()):
        rid = f"{ID_PREFIX}{sha[:16]}"
        name = rid + PurePosixPath(rels[0]).suffix.lower()
        shutil.copyfile(incoming / rels[0], stage / name)
        by_id[rid] = sha
        caps = [c for rel in rels for c in captions.get(rel, [])]
        caps += [c for rel in rels if rel in notes for c in notes[rel].captions]
        caps = list(dict.fromkeys(caps))
        if caps:
            rows.append({"file_name": name, "captions": caps})
    write_jsonl(stage / "captions.jsonl", rows)
    return by_id


def _synthesize(config: RefreshConfig, params: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Instructions for the dataset's shards that have none yet: {synthesized, synth}."""
    from vit.config import build
    from vit.synth.run import SynthConfig, synthesize

    out, src = Path(config.synth_out) if config.synth_out else None, Path(config.dataset)
    if out is None or not _exists(src) or not _synth_behind(src, out):
        return {"synthesized": 0, "synth": None}
    # metrics_path off: the stage's own metrics file belongs to `vit synthesize`.
    section = {**(params.get("synthesize") or {}), "metrics_path": "", **config.synth}
    cfg = build(SynthConfig, section, "params.yaml: synthesize + refresh.synth")
    before = Dataset.open(out).count if _exists(out) else 0
    m = synthesize(src, out, cfg, progress=progress)
    after = Dataset.open(out).count
    run = m["run"]
    brief = {"records": after, "sent": run["sent"], "cache_hits": run["cache_hits"]}
    brief.update(failures=run["failures"], skipped_records=m["skipped_records"])
    return {"synthesized": after - before, "synth": brief}


def _synth_behind(src: Path, out: Path) -> bool:
    """True when a dataset shard has no finished synth shard (new, or a crashed run)."""
    gen = out / "generated"
    if not (_exists(out) and _exists(gen)):
        return True
    return Dataset.open(gen).shards != Dataset.open(src).shards


def _rejected(work: Path, by_id: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Outcomes of the files ingest or curate refused, each with its stage and reason."""
    out: dict[str, dict[str, Any]] = {}
    rows = [(r, "ingest") for r in Dataset.open(work / "ingested").rejects()]
    rows += [(r, "curate") for r in Dataset.open(work / "curated").rejects()]
    for row, stage in rows:
        rid = row.get("id") or PurePosixPath(str(row.get("file", ""))).stem
        if rid in by_id:
            reason = row.get("reason", "")
            where = row.get("filter") or row.get("stage") or stage
            out[by_id[rid]] = {
                "status": "rejected",
                "id": rid,
                "stage": f"{stage}:{where}",
                "reason": reason,
            }
    return out


def _dedup(
    config: RefreshConfig, ded: Any, batch: Dataset, by_id: dict[str, str], progress: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """vit.dedup's methods over [everything seen] + [this batch]; outcomes of the batch rows
    and {"accepted": records (split and group set), counts}."""
    import numpy as np

    from vit.dedup.groups import Pairs, components
    from vit.dedup.run import _follow_to_survivors, find
    from vit.dedup.signatures import collect
    from vit.dedup.splits import assign_splits

    t0 = time.perf_counter()
    info: dict[str, Any] = {"accepted": [], "seen_rows": 0}
    if batch.count == 0:
        return {}, info
    olds = [Dataset.open(p) for p in dict.fromkeys([*config.seen, config.dataset]) if _exists(p)]
    parts = [collect(ds, ded) for ds in olds] + [collect(batch, ded, progress)]
    sig = _concat(parts)
    n_old = len(sig) - len(parts[-1])
    found = find(sig, ded, [], progress)
    _follow_to_survivors(found)  # report the kept record a duplicate stands for
    labels = components(len(sig), Pairs.concat(list(found.pairs.values())))
    splits, keys = assign_splits(sig.ids, labels, ded.split_ratios, ded.seed)
    sizes = np.bincount(labels)
    outcomes: dict[str, dict[str, Any]] = {}
    for row, rec in enumerate(batch, start=n_old):
        if rec.id != sig.ids[row]:
            raise RuntimeError(f"{batch.path} changed during the refresh (row {row})")
        kind, dup, sim = str(found.kind[row]), int(found.dup_of[row]), float(found.sim[row])
        if kind:
            outcomes[by_id[rec.id]] = {
                "status": "duplicate",
                "id": rec.id,
                "kind": kind,
                "duplicate_of": sig.ids[dup] if dup >= 0 else None,
                "similarity": None if np.isnan(sim) else round(sim, 6),
            }
            continue
        rec.split, rec.source = splits[row], "incoming"
        rec.metadata["dedup"] = {"group": keys[row], "group_size": int(sizes[labels[row]])}
        info["accepted"].append(rec)
        outcomes[by_id[rec.id]] = {"status": "added", "id": rec.id, "split": rec.split}
    # Old rows that duplicate each other (a seen dataset deduped with other settings) are
    # left alone: a refresh only ever adds.
    info.update(seen_rows=n_old, seen_duplicates_ignored=int((found.kind[:n_old] != "").sum()))
    info["seconds"] = round(time.perf_counter() - t0, 2)
    return outcomes, info


def _concat(parts: list[Any]) -> Any:
    """One Signatures over several datasets, rows in the given order."""
    import numpy as np

    from vit.dedup.signatures import Signatures

    def cat(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in parts])

    def chain(name: str) -> list[Any]:
        return [x for p in parts for x in getattr(p, name)]

    arrays = ("pixel", "pixel_ok", "phash", "dhash", "hash_ok", "resolution", "n_captions")
    dropped = {k: v for p in parts for k, v in p.dropped.items()}
    return Signatures(chain("ids"), chain("paths"), *map(cat, arrays), chain("texts"), dropped)


def _append(out: Path, src: Dataset, records: list[Any], batch: int) -> Dataset:
    """Copy the images in, write one new shard, then the manifest (the completion marker)."""
    from vit.records import SHARD_PREFIX, write_shard

    if _exists(out):
        ds = Dataset.open(out)
        root, shards, count, info = ds.image_root, ds.shards, ds.count, ds.info
    else:
        root, shards, count, info = out, [], 0, {"stage": "refresh", "batches": []}
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rel_dir = PurePosixPath(
        Path(os.path.relpath(images.resolve(), Path(root).resolve())).as_posix()
    )
    if rel_dir.parts[:1] == ("..",):
        raise ValueError(f"{out}: its image root {root} must contain {images}")
    for rec in records:
        name = PurePosixPath(rec.image).name
        shutil.copyfile(src.resolve(rec), images / name)
        rec.image = (rel_dir / name).as_posix()
    shard = f"{SHARD_PREFIX}{len(shards):05d}.jsonl"  # a torn earlier try is overwritten
    write_shard(out / shard, records)
    batches = [*info.get("batches", []), {"batch": batch, "shard": shard, "count": len(records)}]
    return write_manifest(
        out, count + len(records), [*shards, shard], root, {**info, "batches": batches}
    )
