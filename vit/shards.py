"""Run a step over a dataset shard by shard, so a killed run redoes only unfinished shards.

A step takes one shard's records and returns (kept records, reject rows). Output shard i
and its rejects part are written atomically with markers that remember the input shard's
sha256 and the step's fingerprint (its params), so a rerun skips a shard only when neither
its input nor the params changed. The manifest is written last.

    jobs = plan(src, out, fingerprint)          # what is left to do
    for job in jobs: run_job(job, step)         # a Prefect flow maps these as tasks
    ds = finish(src, out, info)                 # manifest + rejects.jsonl
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vit.records import (
    MANIFEST,
    REJECTS,
    Dataset,
    Record,
    atomic_write_text,
    clear_temp_files,
    read_jsonl,
    read_shard,
    write_jsonl,
    write_manifest,
    write_shard,
)

Step = Callable[[list[Record]], tuple[list[Record], list[dict[str, Any]]]]


@dataclass(frozen=True)
class ShardJob:
    src: str  # input shard path
    out: str  # output shard path
    rejects: str  # rejects part path
    input_sha: str
    fingerprint: str


def fingerprint(params: Any) -> str:
    """A short stable hash of a step's params (anything JSON can hold)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def _done(job: ShardJob) -> bool:
    out, rej = Path(job.out), Path(job.rejects)
    if not (_marker(out).exists() and rej.exists()):
        return False
    try:
        m = json.loads(_marker(out).read_text())
    except json.JSONDecodeError:
        return False
    return (
        m.get("input_sha") == job.input_sha
        and m.get("fingerprint") == job.fingerprint
        and m.get("sha256") == _sha(out)
    )


def plan(src: str | Path, out: str | Path, fp: str) -> list[ShardJob]:
    """Every shard job for src -> out; `pending` filters those not done yet."""
    ds = Dataset.open(src)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # the output is not whole until finish()
    clear_temp_files(out)  # half-written files of a killed run
    jobs = []
    for name in ds.shards:
        stem = name.removesuffix(".jsonl")
        jobs.append(
            ShardJob(
                src=str(ds.path / name),
                out=str(out / name),
                rejects=str(out / f"{stem}.rejects.jsonl"),
                input_sha=_sha(ds.path / name),
                fingerprint=fp,
            )
        )
    return jobs


def pending(jobs: list[ShardJob]) -> list[ShardJob]:
    return [j for j in jobs if not _done(j)]


def run_job(job: ShardJob, step: Step) -> dict[str, int]:
    """Run the step on one shard and write its outputs, rejects first, output marker last."""
    kept, rejects = step(list(read_shard(job.src)))
    write_jsonl(job.rejects, rejects)
    n = write_shard(job.out, kept)
    marker = _marker(Path(job.out))
    m = json.loads(marker.read_text())
    m.update(input_sha=job.input_sha, fingerprint=job.fingerprint)
    atomic_write_text(marker, json.dumps(m))
    return {"kept": n, "rejected": len(rejects)}


def finish(
    src: str | Path, out: str | Path, jobs: list[ShardJob], info: dict[str, Any] | None = None
) -> Dataset:
    """Check every shard is done, gather rejects into rejects.jsonl, write the manifest last."""
    missing = [j.src for j in jobs if not _done(j)]
    if missing:
        raise RuntimeError(f"{len(missing)} shards are not finished, e.g. {missing[0]}")
    ds_in, out = Dataset.open(src), Path(out)
    names = [Path(j.out).name for j in jobs]
    outputs = {p for p in out.glob("records-*.jsonl") if not p.name.endswith(".rejects.jsonl")}
    for stale in outputs - {out / n for n in names}:
        stale.unlink()
        _marker(stale).unlink(missing_ok=True)
    rows = [r for j in jobs for r in read_jsonl(j.rejects)]
    write_jsonl(out / REJECTS, rows)
    count = sum(json.loads(_marker(out / n).read_text())["count"] for n in names)
    return write_manifest(out, count, names, ds_in.image_root, info)


def run_sharded(
    src: str | Path,
    out: str | Path,
    step: Step,
    params: Any,
    info: dict[str, Any] | None = None,
    progress: bool = False,
) -> Dataset:
    """plan -> run every pending job -> finish, in this process (the library path)."""
    jobs = plan(src, out, fingerprint(params))
    todo = pending(jobs)
    if progress and todo:
        from tqdm import tqdm

        todo = tqdm(todo, desc=f"shards -> {Path(out).name}", unit="shard")
    for job in todo:
        run_job(job, step)
    return finish(src, out, jobs, info)
