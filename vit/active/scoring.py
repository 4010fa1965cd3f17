"""What the current model thinks of each image: probe-answer uncertainty, sample loss, embeddings.

    probes = probe_stats("data/active/round-0/model", pool, image_root, per_image=4)
    stats = probe_scores(*probes)
    stats["scene-000123"]  # {"loss": 2.1, "entropy": 1.4, "margin": 0.62, "probes": 4}
    losses = sample_losses(model, train_records, image_root)   # {record id: mean NLL}
    X = image_embeddings(model, pool, image_root)               # the `vlm` embedder

Probes are the evaluation's question kinds (count, color, shape, size, existence, position)
asked about each pool image with the answer read off its annotations
(`vit.evaluate.questions.make_eval_set`, which is only ever given train-split records
here). One teacher-forced forward pass per batch gives, at the answer tokens:

- `loss`: mean negative log-likelihood of the true short answer (+ end of turn);
- `entropy`: mean entropy of the model's next-token distribution;
- `margin`: 1 - (p1 - p2) at the first answer token, p1 >= p2 the two most likely tokens:
  how close the model's own first answer word is to its runner-up;
- `error`: 1 when the model's most likely token differs from the answer's at any answer
  position (teacher-forced greedy exact match, the evaluation's criterion without the
  generation), else 0: per image, the share of its probes it gets wrong.

`entropy` and `margin` need no answer (classic label-free uncertainty); `loss` uses the
annotation-derived answer the pool already has (only the instructions cost money), so it
measures what the model gets wrong rather than where it hesitates. Per image the probe values
are averaged. Everything runs batched under `torch.inference_mode` (CPU friendly).

`by_type=True` (the default) first turns each probe's `loss`, `entropy` and `margin` into its
percentile among the pool's probes of the same question type, then averages those (`error`
stays a rate: it is already on one scale for every type). Raw means measure mostly
which question types an image happened to get (a count probe costs more nats than a size
probe on any image): on the demo's round-1 pool the raw mean loss had a correlation of 0.00
with the number of objects. Within a type, the percentile says how hard this image is for
that question, and an image is uncertain when it is hard across its questions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vit.records import IMAGE_TOKEN, Record, resolve_image

STATS = ("loss", "entropy", "margin")  # ranked within question types when `by_type`
RATES = ("error",)  # averaged as they are


def _device(device: str | None) -> str | None:
    return None if device in (None, "", "auto") else device


def probe_examples(
    records: Sequence[Record], image_root: str | Path, per_image: int = 4, seed: int = 0
) -> tuple[list[dict[str, Any]], list[str]]:
    """(collator examples, the record id of each): one two-turn exchange per probe."""
    from vit.evaluate.questions import asked, make_eval_set

    examples, owners = [], []
    for item in make_eval_set(records, seed=seed, per_image=per_image):
        # The probes' answers are single words: ask in the format the model was taught for
        # them (the short rounds' instruction), or the loss measures the format, not the
        # image (a round-1 model put 6.7 nats on a bare color word, 2.1 with the prompt).
        question = f"{IMAGE_TOKEN}\n{asked(item)}"
        examples.append(
            {
                "id": item.id,
                "image": str(resolve_image(image_root, item.image)),
                "conversations": [
                    {"from": "human", "value": question},
                    {"from": "gpt", "value": item.answer},
                ],
                "qtype": item.qtype,
            }
        )
        owners.append(item.record_id)
    return examples, owners


def token_stats(
    model_path: str | Path,
    examples: Sequence[dict[str, Any]],
    batch_size: int = 32,
    device: str | None = "cpu",
    max_length: int | None = None,
) -> list[dict[str, float]]:
    """{loss, entropy, margin} of each example's answer tokens under the model at `model_path`.
    `max_length` None: the model's own context (what it was trained with), so no training
    record is refused for length when it is scored."""
    import torch

    from vit.model.build import load_model
    from vit.model.collate import VLMCollator

    model, processor = load_model(str(model_path), device=_device(device), dtype="float32")
    model.eval()
    text = getattr(model.config, "text_config", model.config)
    collate = VLMCollator(processor, max_length or int(text.max_position_embeddings))
    out: list[dict[str, float]] = []
    with torch.inference_mode():
        for lo in range(0, len(examples), batch_size):
            batch = collate(list(examples[lo : lo + batch_size]))
            labels = batch.pop("labels").to(model.device)
            inputs = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(**inputs).logits.float()
            out += _batch_stats(logits, labels)
    return out


def _batch_stats(logits: Any, labels: Any) -> list[dict[str, float]]:
    """Per row: mean NLL and entropy over labelled positions, margin at the first one, and
    whether any labelled position's most likely token is not the label."""
    import torch

    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    target = labels[:, 1:]
    mask = target != -100
    nll = -logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    ent = -(logp.exp() * logp).sum(-1)
    miss = logp.argmax(-1) != target
    rows = []
    for i in range(len(labels)):
        m = mask[i]
        if not m.any():
            rows.append({k: float("nan") for k in (*STATS, *RATES)})
            continue
        first = int(m.nonzero()[0, 0])
        top = logp[i, first].exp().topk(2).values
        rows.append(
            {
                "loss": float(nll[i][m].mean()),
                "entropy": float(ent[i][m].mean()),
                "margin": float(1.0 - (top[0] - top[1])),
                "error": float(miss[i][m].any()),
            }
        )
    return rows


def probe_stats(
    model_path: str | Path,
    records: Sequence[Record],
    image_root: str | Path,
    per_image: int = 4,
    seed: int = 0,
    batch_size: int = 32,
    device: str | None = "cpu",
) -> tuple[list[str], list[str], list[dict[str, float]]]:
    """(question type, record id, raw token stats) of every probe of `records`."""
    examples, owners = probe_examples(records, image_root, per_image, seed)
    stats = token_stats(model_path, examples, batch_size, device) if examples else []
    return [e["qtype"] for e in examples], owners, stats


def probe_scores(
    qtypes: Sequence[str],
    owners: Sequence[str],
    stats: Sequence[dict[str, float]],
    by_type: bool = True,
) -> dict[str, dict[str, float]]:
    """Per record id, from `probe_stats`' output: the mean probe {loss, entropy, margin}
    (percentiles within each question type when `by_type`), the share of probes answered
    wrong (`error`) and the number of probes. A record with no probe (no boxed annotations)
    is left out."""
    if by_type:
        stats = percentiles_by_type(stats, qtypes)
    acc: dict[str, list[dict[str, float]]] = defaultdict(list)
    for rid, s in zip(owners, stats, strict=True):
        acc[rid].append(s)
    return {
        rid: {k: float(np.nanmean([s[k] for s in rows])) for k in (*STATS, *RATES)}
        | {"probes": len(rows)}
        for rid, rows in acc.items()
    }


def percentile(v: np.ndarray) -> np.ndarray:
    """Rank of each value in [0, 1] (0 lowest, 1 highest, ties averaged); NaN stays NaN."""
    from scipy.stats import rankdata

    v = np.asarray(v, dtype=np.float64)
    out = np.full(len(v), np.nan)
    ok = ~np.isnan(v)
    if ok.any():
        out[ok] = (rankdata(v[ok]) - 1) / max(int(ok.sum()) - 1, 1)
    return out


def percentiles_by_type(
    stats: Sequence[dict[str, float]], qtypes: Sequence[str]
) -> list[dict[str, float]]:
    """Each stat replaced by its `percentile` among the probes of the same question type."""
    out = [dict(s) for s in stats]
    types = np.asarray(qtypes)
    for t in set(qtypes):
        rows = np.flatnonzero(types == t)
        for k in STATS:
            pct = percentile(np.array([stats[i][k] for i in rows], dtype=np.float64))
            for i, p in zip(rows, pct, strict=True):
                out[i][k] = float(p)
    return out


def sample_losses(
    model_path: str | Path,
    records: Sequence[Record],
    image_root: str | Path,
    batch_size: int = 32,
    device: str | None = "cpu",
    max_length: int | None = None,
) -> dict[str, float]:
    """Mean NLL of each training record's assistant turns under the model (hardness);
    `max_length` should be the one the model was trained with (None: its context)."""
    examples = [
        {
            "id": r.id,
            "image": str(resolve_image(image_root, r.image)) if r.image else None,
            "conversations": r.conversations,
        }
        for r in records
        if r.conversations
    ]
    stats = token_stats(model_path, examples, batch_size, device, max_length)
    return {e["id"]: s["loss"] for e, s in zip(examples, stats, strict=True)}


def image_embeddings(
    model_path: str | Path,
    records: Sequence[Record],
    image_root: str | Path,
    cache_root: str | Path | None = None,
    device: str | None = "cpu",
) -> np.ndarray:
    """The `vlm` embedding (the tuned projector's output, mean-pooled) of each record's image;
    cached by file content under the model's own key."""
    from vit.embed import embed_images_cached, get_embedder

    if not records:
        return np.zeros((0, 0), dtype=np.float32)
    emb = get_embedder("vlm", model=str(model_path), device=_device(device))
    paths = [resolve_image(image_root, r.image) for r in records]
    return embed_images_cached(emb, paths, cache_root=cache_root, progress=False)
