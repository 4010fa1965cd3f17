"""The demo's closing summary: what each stage kept, dropped and caught, from metrics/.

python -m flows.report
"""

from __future__ import annotations

import json
from pathlib import Path


def _load(name: str) -> dict:
    p = Path("metrics") / name
    return json.loads(p.read_text()) if p.exists() else {}


def main() -> None:
    names = ("ingest_scenes", "curate_scenes", "dedup_scenes", "synth", "eval", "al")
    ing, cur, ded, syn, ev, al = (_load(f"{n}.json") for n in names)
    gt = cur.get("groundtruth", {})
    dgt = ded.get("groundtruth", {})
    lines = [
        "vitflow demo (embedded scenes)",
        f"  ingest      read {ing.get('read')}, kept {ing.get('kept')}, rejected {ing.get('rejected')}",
        f"  curate      kept {cur.get('kept')}, rejected {cur.get('rejected')} {cur.get('rejected_by')}",
        f"              injected-defect recall {_recalls(gt.get('kinds', {}))}, "
        f"clean rejected {gt.get('false_rejects', {}).get('total')}",
        f"  dedup       kept {ded.get('kept')}, removed {ded.get('removed_by')}, leakage {ded.get('leakage')}",
        f"              exact recall {dgt.get('exact_duplicate', {}).get('recall')}, "
        f"near recall {dgt.get('near_duplicate', {}).get('recall')}, "
        f"exact+near precision {dgt.get('exact_near_precision')}",
        f"  synthesize  kept {syn.get('total', {}).get('kept')} instructions, "
        f"hallucination rate {syn.get('total', {}).get('hallucination_rate')}",
        f"  evaluate    overall accuracy {ev.get('overall')}",
        f"              tuned, by objects in the scene {_crowding(ev.get('by_objects') or {})}",
        *_active(al),
    ]
    print("\n".join(lines))


def _active(al: dict) -> list[str]:
    """One line per strategy of the `active` stage: accuracy after each round."""
    return [
        f"  active      {name}: accuracy {c['mean']} after rounds {c['round']} "
        f"({[int(x) for x in c['samples']]} samples)"
        for name, c in (al.get("curves") or {}).items()
    ]


def _crowding(bands: dict) -> dict:
    return {band: v.get("accuracy") for band, v in bands.items()}


def _recalls(kinds: dict) -> str:
    vals = [k.get("recall") for k in kinds.values() if k.get("recall") is not None]
    return f"min {min(vals):.2f} over {len(vals)} kinds" if vals else "n/a"


if __name__ == "__main__":
    main()
