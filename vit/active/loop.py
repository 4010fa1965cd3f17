"""The active-learning rounds, each phase a resumable step over files.

    from vit.active.loop import run_loop
    rows = run_loop(ActiveConfig(), synth=SynthConfig.from_dict(section("synthesize")))

Round 0 synthesizes a random seed set of `seed_size` pool images and tunes `base_model` on
it. Round k >= 1: `score` the pool with round k-1's model, `select` B images, `synth`
instructions for them, `review` (off: all accepted; see vit.active.review), `train` warm from
round k-1's model on everything accepted so far plus the extra variants of round k-1's
hardest images, `evaluate` on the fixed test split, then `hard`: the training images with
the highest loss under the new model get one more instruction variant (for round k+1).

    OUT/run.json                what the rounds were made with; a change clears them
    OUT/RUNNING                 host and pid of the process running the rounds (while it does)
    OUT/round-K/scores.jsonl    per pool image: uncertainty (loss/entropy/margin), diversity
    OUT/round-K/types.json      with `focus`: probe loss and error per question type
    OUT/round-K/focus.json      with `focus`, K >= 2: the short rounds' question-type shares
    OUT/round-K/selected.jsonl  id, score, strategy
    OUT/round-K/synth/          the synth stage's input, output and metrics for the selection
    OUT/round-K/review.json     accepted / rejected / fixed, and why the round closed
    OUT/round-K/accepted/       the round's new training records (a dataset)
    OUT/round-K/train/          the whole training set of the round (a dataset)
    OUT/round-K/model/          history, loss.png, model/ and the DONE marker (summary)
    OUT/round-K/eval.json       evaluate_model's report (+ eval/: items, predictions)
    OUT/round-K/hard.jsonl      (id, loss, variant) fed back; hard/: their synth runs
    OUT/round-K/summary.json    the round's row of metrics/al.json

Resume: each phase skips when its output is complete (selected.jsonl, accepted/ and train/
manifests, model/DONE, eval.json, hard.jsonl, all written last), synthesis is served by the
synth cache, and a training killed mid-way resumes from its last checkpoint.
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from vit.active import data as al_data
from vit.active.config import ActiveConfig
from vit.active.rows import eval_set_for, round_row
from vit.active.strategies import Context, Pick, Scores, get_strategy
from vit.records import Dataset, Record, atomic_write_text, write_dataset, write_json

PHASES = ("score", "select", "synth", "review", "train", "evaluate", "hard")
# Fields that do not change what a round computes: changing them keeps finished rounds.
NOT_FINGERPRINTED = ("rounds", "out", "metrics_path", "cache_root", "device", "review_dataset")
NOT_FINGERPRINTED += ("name", "eval_splits")  # eval_splits: rounds are re-scored, not redone
NOT_FINGERPRINTED += ("review_timeout", "review_poll")
LATER_FIELDS = ("allocate", "focus")  # added after runs were made: fingerprinted only when set

Call = Callable[[str, Callable[[int], Any], int], Any]
After = Callable[[str, int, Any], None]


class Loop:
    """One run of the loop: its folders, the pool, and one method per phase."""

    def __init__(self, cfg: ActiveConfig, synth: Any = None, seed_round: str | Path | None = None):
        from vit.synth.config import SynthConfig

        self.cfg, self.out = cfg, Path(cfg.out)
        self.synth_cfg = synth if isinstance(synth, SynthConfig) else SynthConfig(**(synth or {}))
        self.seed_round = Path(seed_round) if seed_round else None
        self.ds = Dataset.open(cfg.data)
        self.records = {r.id: r for r in self.ds}
        self.train_ids = [i for i, r in self.records.items() if r.split == "train" and r.image]
        self.strategy = get_strategy(cfg.strategy, cfg.density, cfg.allocate)

    # --- folders and state ----------------------------------------------------------------

    def dir(self, k: int) -> Path:
        if k == 0 and self.seed_round is not None:
            return self.seed_round
        return self.out / f"round-{k}"

    def model(self, k: int) -> str:
        return self.cfg.base_model if k < 0 else str(self.dir(k) / "model" / "model")

    def taken(self, k: int) -> list[str]:
        """Images selected before round k (the seed set included)."""
        return [i for j in range(k) for i in al_data.read_selection(self.dir(j))]

    def pool(self, k: int) -> list[Record]:
        taken = set(self.taken(k))
        return [self.records[i] for i in self.train_ids if i not in taken]

    def prepare(self) -> None:
        """Keep finished rounds only if they were made with the same settings and inputs."""
        stamp = self.fingerprint()
        path = self.out / "run.json"
        old = json.loads(path.read_text()) if path.exists() else None
        if old is not None and old.get("fingerprint") != stamp["fingerprint"]:
            for d in self.out.glob("round-*"):
                shutil.rmtree(d)
        write_json(path, stamp)

    def fingerprint(self) -> dict[str, Any]:
        cfg = {k: v for k, v in asdict(self.cfg).items() if k not in NOT_FINGERPRINTED}
        # Fields added after runs were made count only when set, so those runs stay valid.
        later = {f.name: f.default for f in fields(ActiveConfig) if f.name in LATER_FIELDS}
        cfg = {k: v for k, v in cfg.items() if k not in later or v != later[k]}
        return al_data.run_fingerprint(cfg, self.synth_cfg, self.ds, self.seed_round)

    def skip(self, k: int) -> bool:
        """Round 0 of a shared seed round is someone else's: read it, never redo it."""
        return k == 0 and self.seed_round is not None

    # --- phases ---------------------------------------------------------------------------

    def score(self, k: int) -> dict[str, Any]:
        d = self.dir(k)
        if k == 0 or (d / "scores.jsonl").exists():
            return {"skipped": True}
        self.measure_types(k)
        labeled = [self.records[i] for i in self.taken(k)]
        ctx = Context(
            model=self.model(k - 1),
            image_root=self.ds.image_root,
            labeled=labeled,
            measure=self.cfg.measure,
            by_type=self.cfg.by_type,
            probes_per_image=self.cfg.probes_per_image,
            batch_size=self.cfg.score_batch_size,
            device=self.cfg.device,
            cache_root=self.cfg.cache_root or None,
            seed=self.cfg.seed + k,
        )
        scores = self.strategy.score(self.pool(k), ctx)
        scores.save(d)
        return {"pool": len(scores.ids), "columns": sorted(scores.values)}

    def measure_types(self, k: int) -> None:
        """With `focus`, the pool's probe loss and error per question type under round k-1's
        model (`types.json`), written before the scores that mark the phase done."""
        path = self.dir(k) / al_data.TYPES_FILE
        if self.cfg.focus == "off" or path.exists():
            return
        from vit.active.focus import type_stats
        from vit.active.scoring import probe_stats

        probes = probe_stats(
            self.model(k - 1),
            self.pool(k),
            self.ds.image_root,
            self.cfg.probes_per_image,
            self.cfg.seed + k,
            self.cfg.score_batch_size,
            self.cfg.device,
        )
        write_json(path, type_stats(probes.qtypes, probes.stats))

    def focus(self, k: int) -> dict[str, float] | None:
        """The question-type shares of round k's short rounds (`focus.json`); None: the
        writer's own mix (focus off, or before two rounds of type statistics exist)."""
        d = self.dir(k)
        if self.cfg.focus == "off" or k < 2:
            return None
        if not (d / al_data.FOCUS_FILE).exists():
            from vit.active.focus import progress_focus

            before, now = (
                json.loads((self.dir(j) / al_data.TYPES_FILE).read_text()) for j in (k - 1, k)
            )
            write_json(d / al_data.FOCUS_FILE, progress_focus(before, now))
        return json.loads((d / al_data.FOCUS_FILE).read_text())["shares"]

    def select(self, k: int) -> dict[str, Any]:
        d = self.dir(k)
        if (d / al_data.SELECTED).exists():
            return {"selected": len(al_data.read_selection(d)), "skipped": True}
        rng = np.random.default_rng([self.cfg.seed, k])
        if k == 0:
            ids = [r.id for r in self.pool(0)]
            n = min(self.cfg.seed_size, len(ids))
            picks = [Pick(ids[i], 0.0) for i in rng.choice(len(ids), n, replace=False)]
            return {"selected": len(al_data.write_selection(d, picks, "seed"))}
        picks = self.strategy.select(Scores.load(d), self.cfg.budget, rng)
        return {"selected": len(al_data.write_selection(d, picks, self.cfg.strategy))}

    def selected(self, k: int) -> list[Record]:
        return [self.records[i] for i in al_data.read_selection(self.dir(k))]

    def synth(self, k: int) -> dict[str, Any]:
        if self.skip(k):
            return {"skipped": True}
        folder = self.dir(k) / "synth"
        focus = self.focus(k)
        cfg = replace(self.synth_cfg, focus=focus) if focus else self.synth_cfg
        m = al_data.synthesize_for(self.selected(k), self.ds.image_root, folder, cfg)
        run = m["run"]
        return {
            "records": m["total"]["final"],
            "sent": run["sent"],
            "cache_hits": run["cache_hits"],
        }

    def review(self, k: int) -> dict[str, Any]:
        d = self.dir(k)
        if self.skip(k) or (d / "accepted" / "vitflow.json").exists():
            return json.loads((d / "review.json").read_text())
        recs = al_data.synthesized(d / "synth", 0, {"round": k})
        if self.cfg.review == "off":
            decision: dict[str, Any] = {"mode": "off", "rejected": [], "fixed": []}
            accepted = recs
        else:
            from vit.active.review import review_round

            accepted, decision = review_round(self, k, recs)
        decision["accepted"] = len(accepted)
        write_json(d / "review.json", decision)
        write_dataset(d / "accepted", accepted, self.ds.image_root)
        return decision

    def train_set(self, k: int) -> list[Record]:
        """Round k-1's training set + round k's accepted records + round k-1's variants."""
        recs = list(Dataset.open(self.dir(k) / "accepted"))
        if k > 0:
            recs = list(Dataset.open(self.dir(k - 1) / "train")) + recs
            extras = self.dir(k - 1) / "extras"
            recs += list(Dataset.open(extras)) if (extras / "vitflow.json").exists() else []
        return recs

    def steps(self, k: int, n_records: int) -> int:
        """Optimizer steps of round k, which trains on `n_records` records."""
        return self.cfg.round_steps(n_records)

    def train(self, k: int) -> dict[str, Any]:
        from vit.train import TrainConfig, train

        d = self.dir(k)
        done = d / "model" / al_data.DONE
        if done.exists():
            return json.loads(done.read_text())
        if not (d / "train" / "vitflow.json").exists():
            write_dataset(d / "train", self.train_set(k), self.ds.image_root)
        steps = self.steps(k, len(Dataset.open(d / "train")))
        base = dict(max_steps=steps, lr=self.cfg.lr, batch_size=self.cfg.batch_size)
        tc = TrainConfig(
            **{**base, "seed": self.cfg.seed + k, **self.cfg.train, "stage": "instruct"}
        )
        summary = train(self.model(k - 1), str(d / "train"), str(d / "model"), tc)
        summary = {k2: v for k2, v in summary.items() if k2 != "trainable_by_module"}
        shutil.rmtree(d / "model" / "checkpoints", ignore_errors=True)  # only for resume
        write_json(done, summary)
        return summary

    def evaluate(self, k: int) -> dict[str, Any]:
        d = self.dir(k)
        done = json.loads((d / "eval.json").read_text()) if (d / "eval.json").exists() else {}
        # Scored on other items (other splits, or the probe questions changed): score the
        # kept model again, unless the round is a shared seed round, whose own run does that.
        stale = not done or done.get("eval_set") != self.eval_set
        if stale and not (done and self.skip(k)):
            done = self.score_model(self.model(k), d / "eval", d / "eval.json")
        return {"overall": done["overall"]}

    @functools.cached_property
    def eval_set(self) -> str:
        """The fingerprint of the held-out items every round is scored on."""
        return eval_set_for(self.cfg, self.ds)[1]

    def score_model(
        self, model: str | Path, out: Path, metrics_path: Path | None = None
    ) -> dict[str, Any]:
        """Any model on the fixed held-out split(s), exactly as a round's model is evaluated."""
        from vit.evaluate.run import evaluate_model

        return evaluate_model(
            model,
            self.cfg.data,
            out,
            split=self.cfg.eval_splits,
            per_image=self.cfg.eval_per_image,
            limit=self.cfg.eval_limit or None,
            max_new_tokens=self.cfg.eval_max_new_tokens,
            metrics_path=metrics_path,
            blind=False,
        )

    def hard(self, k: int) -> dict[str, Any]:
        """Extra variants for the hardest training images (used by round k+1)."""
        from vit.active.scoring import sample_losses

        d = self.dir(k)
        if self.skip(k) or (d / "hard.jsonl").exists() or self.cfg.hard_top <= 0:
            return {"skipped": True}
        train = list(Dataset.open(d / "train"))
        from vit.train import TrainConfig

        # Score with the length the round trained with: every training record fits it.
        max_length = int(self.cfg.train.get("max_length", TrainConfig().max_length))
        losses = sample_losses(
            self.model(k),
            train,
            self.ds.image_root,
            self.cfg.score_batch_size,
            self.cfg.device,
            max_length=max_length,
        )
        hard = al_data.hardest_images(train, losses, self.cfg.hard_top, self.cfg.hard_cap)
        extras: list[Record] = []
        for v in sorted({h[2] for h in hard}):
            recs = [self.records[s] for s, _, hv in hard if hv == v]
            folder = d / "hard" / f"v{v}"
            al_data.synthesize_for(recs, self.ds.image_root, folder, self.synth_cfg, v)
            extras += al_data.synthesized(folder, v, {"round": k, "hard": True})
        write_dataset(d / "extras", extras, self.ds.image_root)
        rows = [{"id": s, "loss": loss, "variant": v} for s, loss, v in hard]
        atomic_write_text(d / "hard.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        return {"images": len(hard), "records": len(extras)}


def _direct(name: str, fn: Callable[[int], Any], k: int) -> Any:
    return fn(k)


def run_loop(
    cfg: ActiveConfig,
    synth: Any = None,
    seed_round: str | Path | None = None,
    call: Call | None = None,
    after: After | None = None,
    on_round: Callable[[list[dict[str, Any]]], None] | None = None,
    hard_last: bool = False,
) -> list[dict[str, Any]]:
    """Rounds 0..cfg.rounds; returns one row per round. `call(phase, fn, k)` runs each phase
    (a Prefect task in flows/active.py); `after(phase, k, result)` is told when each phase
    ends; `on_round(rows)` gets the rows so far after each round (metrics/al.json).
    The last round's `hard` phase runs only with `hard_last` (a shared seed round: the runs
    that continue from it train on its variants)."""
    call = call or _direct
    loop = Loop(cfg, synth, seed_round)
    loop.prepare()
    with al_data.running(loop.out):
        return _rounds(loop, call, after, on_round, hard_last)


def _rounds(
    loop: Loop,
    call: Call,
    after: After | None,
    on_round: Callable[[list[dict[str, Any]]], None] | None,
    hard_last: bool,
) -> list[dict[str, Any]]:
    cfg, rows = loop.cfg, []
    for k in range(cfg.rounds + 1):
        seconds = {}
        for phase in PHASES:
            t0 = time.perf_counter()
            if phase == "hard" and k == cfg.rounds and not hard_last:
                continue  # nothing trains on the last round's variants
            result = call(phase, getattr(loop, phase), k)
            seconds[phase] = round(time.perf_counter() - t0, 2)
            if after is not None:
                after(phase, k, result)
        rows.append(round_row(loop, k, seconds))
        if on_round is not None:
            on_round(rows)
    return rows
