"""Memory at scale: peak RSS of curate and dedup at 10k vs 100k records.

    .venv/bin/python bench/scale.py [--sizes 10000 100000]

The records are scene records whose images repeat (1000 distinct 64 px scenes, each named
by many records), so the run measures what grows with the record count: shard streaming,
signatures, duplicate bookkeeping. Each stage runs in a fresh process; peak RSS comes from
the kernel (ru_maxrss). Bounded means far below "all records as PIL images in a list".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

STAGE = """
import json, resource, sys, time
t = time.perf_counter()
stage, src, out = sys.argv[1:4]
if stage == "curate":
    from vit.curate.run import curate
    s = curate(src, out, progress=False)
else:
    from vit.dedup.run import DedupConfig, dedup
    s = dedup(src, out, DedupConfig(methods=["exact", "near", "semantic"]), progress=False)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": round(time.perf_counter() - t, 1), "peak_rss_mb": round(rss),
                  "kept": s.get("kept")}))
"""


def make_dataset(work: Path, n: int) -> Path:
    from vit.records import Record, write_dataset
    from vit.sources.scenes import generate_scenes
    from vit.sources.vitflow_jsonl import read_vitflow

    raw = work / "raw"
    if not (raw / "scenes.jsonl").exists():
        generate_scenes(raw, n=1000, seed=0, size=64, defect_rate=0.0)
    base = list(read_vitflow(raw / "scenes.jsonl").records)

    def records():
        for i in range(n):
            r = base[i % len(base)]
            yield Record(
                id=f"x{i:07d}",
                image=r.image,
                width=r.width,
                height=r.height,
                source="scale",
                annotations=r.annotations,
                captions=r.captions,
                conversations=r.conversations,
            )

    return write_dataset(work / f"in{n}", records(), raw).path


def run(stage: str, src: Path, out: Path) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", STAGE, stage, str(src), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sizes:
            src = make_dataset(work, n)
            cur = run("curate", src, work / f"cur{n}")
            ded = run("dedup", work / f"cur{n}", work / f"ded{n}")
            print(
                f"{n:>7} records  curate {cur['seconds']:6.1f} s {cur['peak_rss_mb']:5d} MB"
                f"   dedup {ded['seconds']:6.1f} s {ded['peak_rss_mb']:5d} MB  kept {ded['kept']}"
            )


if __name__ == "__main__":
    main()
