"""Review inside the loop: each round in FiftyOne, and the reviewers' tags back into the round.

Per round k (review `publish` or `on`), the samples of the FiftyOne dataset (keyed `vit_id`,
as `vit review sync` writes them; missing ones are synced from the loop's dataset) get:

| field | on | what |
|---|---|---|
| `al_round`, `al_strategy`, `al_score` | the round's selected images | when and why it was picked |
| `al_uncertainty`, `al_diversity`, `al_gradnorm` | every scored pool image | the strategy's scores (latest round; `al_gradnorm`: badge's gradient-embedding norm) |
| `al_instructions` | selected images | the synthesized conversations, one string per turn pair |
| `al_probe_answers`, `al_probe_correct`, `al_probe_round` | selected images and the test split | round k-1's model answering probe questions: "question -> answer (gold)", and the share right |
| `al_hard_loss`, `al_hard_round` | the images round k-1 sent back for extra variants | their highest training loss |

and saved views `round-K selected`, `hard examples` and `wrong answers` (this round's probes
with any wrong answer).

The rule with review `on`: the loop waits for the round's review. Tags on the round's
selected images decide: `reject` leaves the image out of training (and `vit review pull`
turns it into a curation reject as well); `fix` sends it back to synthesis with a new seed
(variant 100 + k, renamed `-v{100+k}`), and the new instructions are used without a second
review; untagged images are accepted. The round closes when any of its images is tagged
`round-done`, or after `review_timeout` seconds, whichever comes first; tags added later do
not change a closed round (its decision is in `round-K/review.json`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vit.records import Record, read_jsonl

REJECT, FIX, DONE = "reject", "fix", "round-done"
FIX_VARIANT = 100
WRONG_ANSWERS, HARD_EXAMPLES = "wrong answers", "hard examples"


def selected_view_name(k: int) -> str:
    return f"round-{k} selected"


def open_samples(name: str, data: str | Path, ids: Sequence[str]) -> Any:
    """The FiftyOne dataset `name`, synced from `data` first if any of `ids` is missing."""
    from vit.review.db import load_fiftyone
    from vit.review.sync import sync

    fo = load_fiftyone()
    if not fo.dataset_exists(name) or set(ids) - set(fo.load_dataset(name).distinct("vit_id")):
        sync(name, deduped=data)
    return fo.load_dataset(name)


def set_fields(ds: Any, field: str, values: dict[str, Any]) -> None:
    """`field` of each sample whose vit_id is a key of `values` (others untouched)."""
    if values:
        ds.select_by("vit_id", list(values)).set_values(field, values, key_field="vit_id")


def conversation_lines(records: Sequence[Record]) -> dict[str, list[str]]:
    """Source image -> its synthesized turns as 'Q: ... A: ...' strings."""
    from vit.active.data import source_id

    out: dict[str, list[str]] = {}
    for rec in records:
        turns = rec.conversations
        for q, a in zip(turns[::2], turns[1::2], strict=False):
            question = q["value"].replace("<image>", "").strip()
            out.setdefault(source_id(rec), []).append(f"Q: {question} A: {a['value']}")
    return out


def probe_fields(rows: Sequence[dict[str, Any]]) -> tuple[dict, dict]:
    """(vit_id -> answer lines, vit_id -> share correct) from prediction rows."""
    answers: dict[str, list[str]] = {}
    right: dict[str, list[bool]] = {}
    for r in rows:
        rid = r["record_id"]
        answers.setdefault(rid, []).append(f"{r['question']} -> {r['prediction']} ({r['answer']})")
        right.setdefault(rid, []).append(bool(r["correct"]))
    return answers, {k: sum(v) / len(v) for k, v in right.items()}


def publish(
    ds: Any,
    k: int,
    selected: Sequence[dict[str, Any]],
    scores: Sequence[dict[str, Any]],
    synthesized: Sequence[Record],
    probes: Sequence[dict[str, Any]],
    hard: Sequence[dict[str, Any]],
) -> dict[str, int]:
    """Write round k's fields and (re)save its views; returns the samples in each view."""
    from fiftyone import ViewField as F

    set_fields(ds, "al_round", {s["id"]: k for s in selected})
    set_fields(ds, "al_strategy", {s["id"]: s["strategy"] for s in selected})
    set_fields(ds, "al_score", {s["id"]: float(s["score"]) for s in selected})
    for col in ("uncertainty", "diversity", "gradnorm"):
        vals = {s["id"]: float(s[col]) for s in scores if s.get(col) is not None}
        set_fields(ds, f"al_{col}", vals)
    set_fields(ds, "al_instructions", conversation_lines(synthesized))
    answers, correct = probe_fields(probes)
    set_fields(ds, "al_probe_answers", answers)
    set_fields(ds, "al_probe_correct", correct)
    set_fields(ds, "al_probe_round", dict.fromkeys(correct, k))
    set_fields(ds, "al_hard_loss", {h["id"]: float(h["loss"]) for h in hard})
    set_fields(ds, "al_hard_round", {h["id"]: k - 1 for h in hard})
    views = {
        selected_view_name(k): ds.match(F("al_round") == k).sort_by("al_score", reverse=True),
        HARD_EXAMPLES: ds.exists("al_hard_loss").sort_by("al_hard_loss", reverse=True),
        WRONG_ANSWERS: ds.match((F("al_probe_round") == k) & (F("al_probe_correct") < 1)).sort_by(
            "al_probe_correct"
        ),
    }
    for name, view in views.items():
        ds.save_view(name, view, overwrite=True)
    return {name: view.count() for name, view in views.items()}


def read_tags(ds: Any, ids: Sequence[str]) -> dict[str, list[str]]:
    vit_ids, tags = ds.select_by("vit_id", list(ids)).values(["vit_id", "tags"])
    return dict(zip(vit_ids, tags, strict=True))


def wait_for_review(
    ds: Any, ids: Sequence[str], timeout: float, poll: float = 5.0
) -> tuple[dict[str, list[str]], str, float]:
    """Poll the tags of `ids` until one carries `round-done` or `timeout` seconds pass;
    returns (tags by id, "round-done" or "timeout", seconds waited)."""
    t0 = time.monotonic()
    while True:
        tags = read_tags(ds, ids)
        if any(DONE in t for t in tags.values()):
            return tags, DONE, round(time.monotonic() - t0, 2)
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return tags, "timeout", round(time.monotonic() - t0, 2)
        time.sleep(max(0.05, min(poll, left)))


def decide(tags: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(rejected, fixed) image ids; reject wins over fix."""
    rejected = sorted(i for i, t in tags.items() if REJECT in t)
    fixed = sorted(i for i, t in tags.items() if FIX in t and REJECT not in t)
    return rejected, fixed


def accepted_records(
    records: Sequence[Record],
    rejected: Sequence[str],
    fixed: Sequence[str],
    resynthesize: Callable[[list[str]], list[Record]],
) -> list[Record]:
    """The round's training records after review: rejected and fixed images' records out,
    the fixed images' new records in."""
    from vit.active.data import source_id

    out = set(rejected) | set(fixed)
    kept = [r for r in records if source_id(r) not in out]
    return kept + (resynthesize(list(fixed)) if fixed else [])


def review_round(loop: Any, k: int, records: list[Record]) -> tuple[list[Record], dict[str, Any]]:
    """The loop's review phase for round k (review `publish` or `on`); see the module doc."""
    from vit.active import data as al_data

    cfg, d = loop.cfg, loop.dir(k)
    selected = list(read_jsonl(d / al_data.SELECTED))
    ids = [s["id"] for s in selected]
    scores = list(read_jsonl(d / "scores.jsonl")) if (d / "scores.jsonl").exists() else []
    ds = open_samples(cfg.review_dataset, cfg.data, ids)
    probes = round_probes(loop, k, [loop.records[i] for i in ids])
    prev = loop.dir(k - 1) / "hard.jsonl" if k > 0 else None
    hard = list(read_jsonl(prev)) if prev is not None and prev.exists() else []
    views = publish(ds, k, selected, scores, records, probes, hard)
    decision: dict[str, Any] = {"mode": cfg.review, "views": views, "rejected": [], "fixed": []}
    if cfg.review != "on":
        return records, decision | {"reason": "publish"}
    tags, reason, waited = wait_for_review(ds, ids, cfg.review_timeout, cfg.review_poll)
    rejected, fixed = decide(tags)

    def resynthesize(fix_ids: list[str]) -> list[Record]:
        v, folder = FIX_VARIANT + k, d / "fix"
        recs = [loop.records[i] for i in fix_ids]
        al_data.synthesize_for(recs, loop.ds.image_root, folder, loop.synth_cfg, v)
        return al_data.synthesized(folder, v, {"round": k, "fixed": True})

    accepted = accepted_records(records, rejected, fixed, resynthesize)
    return accepted, decision | {
        "reason": reason,
        "waited_s": waited,
        "rejected": rejected,
        "fixed": fixed,
    }


def round_probes(loop: Any, k: int, selected: list[Record]) -> list[dict[str, Any]]:
    """Round k-1's model on probe questions: its test-split predictions (from its eval) and
    fresh greedy answers on the selected images (none in round 0: no model yet)."""
    if k == 0:
        return []
    from vit.evaluate.metrics import exact_match
    from vit.evaluate.questions import make_eval_set
    from vit.evaluate.report import predict
    from vit.model.answer import answerer
    from vit.model.build import load_model

    pred_file = loop.dir(k - 1) / "eval" / "predictions.jsonl"
    rows = list(read_jsonl(pred_file)) if pred_file.exists() else []
    items = make_eval_set(selected, seed=loop.cfg.seed + k, per_image=loop.cfg.probes_per_image)
    model, processor = load_model(
        loop.model(k - 1), device=None if loop.cfg.device == "auto" else loop.cfg.device
    )
    preds = predict(
        answerer(model, processor, loop.cfg.eval_max_new_tokens), items, loop.ds.image_root
    )
    for item, p in zip(items, preds, strict=True):
        rows.append(
            {**item.to_dict(), "prediction": p, "correct": exact_match(p, item.answer, item.qtype)}
        )
    return rows
