"""What the current model thinks of each image: probe-answer uncertainty, sample loss, embeddings.

    p = probe_stats("data/active/round-0/model", pool, image_root, per_image=4)
    stats = probe_scores(p.qtypes, p.owners, p.stats)
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

With `probe_stats(..., gradients=True)` the same forward pass also gives each probe's
gradient embedding (the gradient of its answer loss on the output layer, projected to
512 numbers; `image_gradients` averages them per image): the `badge` strategy's space.

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vit.records import IMAGE_TOKEN, Record, resolve_image

STATS = ("loss", "entropy", "margin")  # ranked within question types when `by_type`
RATES = ("error",)  # averaged as they are
GRAD_DIMS = (32, 16)  # projected sizes of the output-layer gradient's two factors


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


def _forward(
    model_path: str | Path,
    examples: Sequence[dict[str, Any]],
    batch_size: int,
    device: str | None,
    max_length: int | None,
    hidden: bool = False,
) -> Iterator[tuple[Any, Any, Any]]:
    """(logits, labels, last hidden states or None) per batch, teacher-forced
    under `torch.inference_mode`."""
    import torch

    from vit.model.build import load_model
    from vit.model.collate import VLMCollator

    model, processor = load_model(str(model_path), device=_device(device), dtype="float32")
    model.eval()
    text = getattr(model.config, "text_config", model.config)
    collate = VLMCollator(processor, max_length or int(text.max_position_embeddings))
    with torch.inference_mode():
        for lo in range(0, len(examples), batch_size):
            batch = collate(list(examples[lo : lo + batch_size]))
            labels = batch.pop("labels").to(model.device)
            inputs = {k: v.to(model.device) for k, v in batch.items()}
            out = model(**inputs, output_hidden_states=hidden)
            states = out.hidden_states[-1].float() if hidden else None
            yield out.logits.float(), labels, states


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
    out: list[dict[str, float]] = []
    for logits, labels, _ in _forward(model_path, examples, batch_size, device, max_length):
        out += _batch_stats(logits, labels)
    return out


def token_stats_and_gradients(
    model_path: str | Path,
    examples: Sequence[dict[str, Any]],
    batch_size: int = 32,
    device: str | None = "cpu",
    dims: tuple[int, int] | None = GRAD_DIMS,
    seed: int = 0,
) -> tuple[list[dict[str, float]], np.ndarray]:
    """`token_stats` and, from the same forward pass, each example's gradient embedding: the
    gradient of its answer loss with respect to the output layer (BADGE's embedding, Ash
    et al. 2020, with the annotation's answer in place of the model's guess). Per answer
    position t that gradient is the outer product (p_t - onehot(y_t)) x h_t of the
    next-token probabilities' error and the final hidden state; it is summed over t. It
    has vocabulary x hidden entries, so each factor goes through a fixed Gaussian
    projection first (`dims` = (a, b): a x b numbers, inner products kept in expectation);
    `dims=None` keeps the exact gradient (tests compare it with autograd)."""
    import torch

    stats: list[dict[str, float]] = []
    grads: list[np.ndarray] = []
    proj: tuple[Any, Any] | None = None
    for logits, labels, states in _forward(
        model_path, examples, batch_size, device, None, hidden=True
    ):
        stats += _batch_stats(logits, labels)
        if proj is None and dims is not None:
            gen = torch.Generator().manual_seed(seed)
            v, h = logits.shape[-1], states.shape[-1]
            proj = tuple(
                (torch.randn(n, k, generator=gen) / k**0.5).to(logits.device)
                for n, k in ((v, dims[0]), (h, dims[1]))
            )
        grads.append(_batch_gradients(logits, labels, states, proj))
    width = (dims[0] * dims[1]) if dims else 0
    return stats, (np.concatenate(grads) if grads else np.zeros((0, width), np.float32))


def _batch_gradients(logits: Any, labels: Any, states: Any, proj: tuple[Any, Any] | None):
    """Per row: sum over answer positions of (p - onehot(y)) x h, projected by `proj`."""
    import torch

    p = torch.softmax(logits[:, :-1], dim=-1)
    target = labels[:, 1:]
    mask = (target != -100).unsqueeze(-1).float()
    err = p.scatter_add(-1, target.clamp(min=0).unsqueeze(-1), -torch.ones_like(mask))
    h = states[:, :-1]
    if proj is not None:
        err, h = err @ proj[0], h @ proj[1]
    g = torch.einsum("bta,btc->bac", err * mask, h)
    return g.flatten(1).cpu().numpy().astype(np.float32)


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


class Probes(NamedTuple):
    """Every probe of a set of records: its question type, its record, its token stats and,
    when asked for, its projected output-layer gradient (one row per probe)."""

    qtypes: list[str]
    owners: list[str]
    stats: list[dict[str, float]]
    grads: np.ndarray | None = None


def probe_stats(
    model_path: str | Path,
    records: Sequence[Record],
    image_root: str | Path,
    per_image: int = 4,
    seed: int = 0,
    batch_size: int = 32,
    device: str | None = "cpu",
    gradients: bool = False,
) -> Probes:
    """The probes of `records` under the model; `gradients` adds their gradient embeddings
    (`token_stats_and_gradients`) from the same forward pass."""
    examples, owners = probe_examples(records, image_root, per_image, seed)
    qtypes = [e["qtype"] for e in examples]
    if not gradients:
        stats = token_stats(model_path, examples, batch_size, device) if examples else []
        return Probes(qtypes, owners, stats)
    if not examples:
        return Probes([], [], [], np.zeros((0, GRAD_DIMS[0] * GRAD_DIMS[1]), np.float32))
    stats, grads = token_stats_and_gradients(model_path, examples, batch_size, device)
    return Probes(qtypes, owners, stats, grads)


def image_gradients(
    qtypes: Sequence[str], owners: Sequence[str], grads: np.ndarray
) -> dict[str, np.ndarray]:
    """Per record id, the mean of its probes' gradient embeddings, each first divided by the
    mean norm of its question type's probes: a count probe's gradient is larger than a size
    probe's on any image (as its loss is, `by_type`'s reason), so raw sums would rank
    images by the question types they drew."""
    norms = np.linalg.norm(grads, axis=1)
    types = np.asarray(qtypes)
    scale = np.ones(len(grads))
    for t in set(qtypes):
        rows = types == t
        scale[rows] = max(float(norms[rows].mean()), 1e-12)
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, rid in enumerate(owners):
        rows_of[rid].append(i)
    scaled = grads / scale[:, None]
    return {rid: scaled[rows].mean(0) for rid, rows in rows_of.items()}


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
