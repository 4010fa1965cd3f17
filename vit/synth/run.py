"""The synthesize stage: records with captions + boxes -> LLaVA instructions, every answer
checked against the annotations, every generation cached.

    from vit.synth.run import SynthConfig, synthesize
    metrics = synthesize("data/ingested/scenes", "data/synth", SynthConfig(backend="grounded"))

One output record per (image, type, k), id `{rid}-{type}-{k}`, holding the source record's
image, annotations and captions, the new conversation, and `metadata.synth` provenance
(backend, model, template hash, sampling, cache key, time, type, source id, validator).
Output folder:

    OUT/generated/          vit.shards output, one shard per input shard, before dedup
                            (+ records-NNNNN.metrics.json: that shard's counts)
    OUT/records-*.jsonl     the final dataset after instruction dedup, + vitflow.json
    OUT/rejects.jsonl       generation failures, parse failures, hallucinations, duplicates

A rerun sends nothing the cache holds; a shard whose requests failed is redone on the next
run (only the failed requests are sent again).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from vit import shards
from vit.records import Record, reject, write_json
from vit.synth import report
from vit.synth.backends import Backend, Request, Response, get_backend
from vit.synth.cache import Cache, cache_key
from vit.synth.config import SynthConfig
from vit.synth.grounding import validate
from vit.synth.parse import DETAIL_PROMPTS, parse, to_conversations
from vit.synth.templates import TYPES, render, template_hash

__all__ = ["SynthConfig", "make_backend", "plan_types", "synthesize"]
STAGE = "synth"


def make_backend(cfg: SynthConfig) -> Backend:
    return get_backend(cfg.backend, cfg.model, **cfg.backend_kwargs())


def _int(*parts: Any) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def plan_types(rid: str, cfg: SynthConfig) -> list[tuple[str, int]]:
    """(type, k) pairs for one image: exact counts, or `per_image` draws from the mix."""
    if cfg.n_per_type:
        return [(t, k) for t in TYPES for k in range(int(cfg.n_per_type.get(t, 0)))]
    names = [t for t in TYPES if cfg.mix.get(t, 0) > 0]
    p = np.array([cfg.mix[t] for t in names], dtype=float)
    draws = np.random.default_rng(_int(cfg.seed, rid)).choice(names, cfg.per_image, p=p / p.sum())
    seen: Counter = Counter()
    out = []
    for t in draws:
        out.append((str(t), seen[t]))
        seen[t] += 1
    return out


def sampling(cfg: SynthConfig, kind: str, k: int) -> dict[str, Any]:
    # The seed does not depend on the record: identical contexts share one generation.
    return {
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "seed": _int(cfg.seed, kind, k) % 2**31,
        "sample": k,
    }


class _Run:
    """One synthesize call: the backend, the cache, and this run's own counters."""

    def __init__(self, cfg: SynthConfig, backend: Backend, cache: Cache, progress: bool) -> None:
        self.cfg, self.backend, self.cache, self.progress = cfg, backend, cache, progress
        self.hashes = {t: template_hash(t) for t in TYPES}
        self.run: Counter = Counter()

    def requests(self, rec: Record) -> list[tuple[str, int, Request]]:
        out = []
        for kind, k in plan_types(rec.id, self.cfg):
            focus = self.cfg.focus if kind == "short" else {}
            msgs, s = render(kind, rec, focus), sampling(self.cfg, kind, k)
            key = cache_key(self.backend.name, self.backend.model, self.hashes[kind], msgs, s)
            out.append((kind, k, Request(key, kind, msgs, s, rec, focus)))
        return out

    def fetch(self, reqs: list[Request]) -> dict[str, dict[str, Any]]:
        """Cached entries for every key; the rest are generated and cached as they land."""
        got: dict[str, dict[str, Any]] = {}
        todo: list[Request] = []
        for r in reqs:
            entry = self.cache.get(r.key)
            if entry is not None:
                got[r.key] = entry
                self.run["cache_hits"] += 1
            elif r.key not in got:  # the same context twice in a shard is asked once
                got[r.key] = {}
                todo.append(r)
        bar = _bar(len(todo), self.progress)

        def landed(i: int, resp: Response) -> None:
            got[todo[i].key] = self._store(todo[i], resp)
            if bar is not None:
                bar.update(1)

        self.backend.generate(todo, on_result=landed)
        if bar is not None:
            bar.close()
        return got

    def _store(self, r: Request, resp: Response) -> dict[str, Any]:
        """Count one answer and cache it the moment it lands (failures are not cached)."""
        self.run.update(
            sent=1,
            retries=resp.retries,
            tokens_in=resp.tokens_in,
            tokens_out=resp.tokens_out,
            failures=resp.text is None,
        )
        entry = {
            "backend": self.backend.name,
            "model": self.backend.model,
            "type": r.type,
            "text": resp.text,
            "tokens_in": resp.tokens_in,
            "tokens_out": resp.tokens_out,
            "retries": resp.retries,
            "latency": round(resp.latency, 4),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if resp.text is None:
            return entry | {"error": resp.error}
        self.cache.put(r.key, entry)
        return entry

    def build(self, rec: Record, kind: str, k: int, req: Request, entry: dict, c: Counter):
        """(output record, None) or (None, reject row) for one generation; counts into `c`."""
        c.update(
            requests=1,
            tokens_in=entry.get("tokens_in", 0),
            tokens_out=entry.get("tokens_out", 0),
            retries=entry.get("retries", 0),
        )
        text = entry.get("text")
        bad = partial(
            reject, f"{rec.id}-{kind}-{k}", STAGE, source_id=rec.id, type=kind, cache_key=req.key
        )
        if text is None:
            c["failures"] += 1
            return None, bad(entry.get("error") or "no answer", code="generation_failed")
        c["generated"] += 1
        parsed = parse(kind, text, DETAIL_PROMPTS[int(req.key[:8], 16) % len(DETAIL_PROMPTS)])
        if not parsed.ok:
            c["parse_failures"] += 1
            return None, bad(parsed.error, code="parse_failed", raw=text[:2000])
        c["parsed"] += 1
        v = validate(parsed.turns, rec.annotations, self.cfg.validator)
        c.update(hallucinated=bool(v.reasons), claims=v.claims, false_claims=v.false_claims)
        if not v.keep:
            c["rejected"] += 1
            return None, bad("; ".join(v.reasons[:8]), code="hallucination", raw=text[:2000])
        c.update(kept=1, trimmed_turns=v.trimmed)
        return self._output(rec, kind, k, req, entry, v), None

    def _output(self, rec: Record, kind: str, k: int, req: Request, entry: dict, v) -> Record:
        """The new record: the source's image and annotations, the new turns, provenance."""
        prov = {
            "backend": self.backend.name,
            "model": self.backend.model,
            "template_hash": self.hashes[kind],
            "sampling": req.sampling,
            "cache_key": req.key,
            "time": entry.get("time"),
            "type": kind,
            "source_id": rec.id,
            **({"focus": req.focus} if req.focus else {}),  # only set: older outputs unchanged
            "validator": {
                "mode": self.cfg.validator,
                "claims": v.claims,
                "trimmed": v.trimmed,
                "reasons": v.reasons,
            },
        }
        return Record(
            id=f"{rec.id}-{kind}-{k}",
            image=rec.image,
            width=rec.width,
            height=rec.height,
            source=rec.source,
            split=rec.split,
            annotations=rec.annotations,
            captions=rec.captions,
            conversations=to_conversations(v.turns),
            metadata={**rec.metadata, "synth": prov},
        )

    def step(self, records: list[Record], metrics_path: Path):
        """One shard: plan, fetch (cache first), parse, validate; its counts to a sidecar."""
        need = self.cfg.require_annotations
        usable = [r for r in records if not need or any(a.box for a in r.annotations)]
        ok = {id(r) for r in usable}
        rejects = [
            reject(r.id, STAGE, "no boxed annotations to ground on", code="no_annotations")
            for r in records
            if id(r) not in ok
        ]
        planned = [(rec, *x) for rec in usable for x in self.requests(rec)]
        got = self.fetch([req for *_, req in planned])
        counts: dict[str, Counter] = {t: Counter() for t in TYPES}
        kept = []
        for rec, kind, k, req in planned:
            out, bad = self.build(rec, kind, k, req, got[req.key], counts[kind])
            kept += [out] if out else []
            rejects += [bad] if bad else []
        report.write_counts(metrics_path, counts, skipped=len(records) - len(usable))
        return kept, rejects


def _bar(total: int, progress: bool):
    if not (progress and total):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="synth requests", unit="req", leave=False)


def synthesize(
    src: str | Path, out: str | Path, config: SynthConfig | None = None, progress: bool = True
) -> dict[str, Any]:
    """Write instructions for every annotated record of dataset `src` into `out`; return
    metrics per type (generated, parsed, rejected, kept, tokens, cost, ...)."""
    cfg, out, t0 = config or SynthConfig(), Path(out), time.perf_counter()
    backend, cache = make_backend(cfg), Cache(cfg.cache_dir)
    run = _Run(cfg, backend, cache, progress)
    # The backend's resolved model too: a new writer version ("grounded-v3") or a default
    # model redoes finished shards instead of resuming from the old writer's output.
    fingerprint = {**cfg.fingerprint(), "backend_model": backend.model, "templates": run.hashes}
    jobs = shards.plan(src, out / "generated", shards.fingerprint(fingerprint))
    pending = set(shards.pending(jobs))
    todo = [j for j in jobs if j in pending or report.failures(j) > 0]
    try:
        for job in _bar_over(todo, progress):
            shards.run_job(job, partial(run.step, metrics_path=report.counts_path(job)))
    finally:
        cache.compact()
        backend.close()
    info = {
        "stage": "synthesize",
        "backend": backend.name,
        "model": backend.model,
        "templates": run.hashes,
        "validator": cfg.validator,
    }
    generated = shards.finish(src, out / "generated", jobs, info)
    dedup = report.dedup_and_write(generated, out, cfg, info)
    metrics = report.metrics(cfg, backend, jobs, run.run, dedup, time.perf_counter() - t0)
    if cfg.metrics_path:
        write_json(cfg.metrics_path, metrics)
    return metrics


def _bar_over(jobs: list, progress: bool):
    if not (progress and len(jobs) > 1):
        return jobs
    from tqdm import tqdm

    return tqdm(jobs, desc="synth shards", unit="shard")
