"""Generated instructions through the dedup stage's own text dedup (`vit.dedup.text`).

Two rules, both from that module, with MiniLM embeddings (`vit.embed.get_embedder("text")`)
and its `text_eps` (cosine >= 1 - eps is a duplicate):

- within a record: an exchange nearly the same as an earlier one of the same conversation
  is cut (`within_record_drops` + `drop_exchanges`; the first exchange, holding `<image>`,
  always stays), and the cut is recorded in `metadata.synth.dedup`;
- joint: two generated records about the same image whose whole instruction texts nearly
  agree are one sample twice (`joint_pairs` with image similarity 1); the later one goes,
  resolved by `vit.dedup.groups` like every other dedup method. The same question about
  two different images is two samples, as the dedup stage rules.

`short` records (one-word answers) are left out of both: their rounds are distinct by
construction, and on one-word answers the embedding rule confuses opposite facts
(`Is the square left or right of the diamond? left` vs the diamond's `right`: cosine 0.96),
which cut a third of their rounds when measured on 400 scenes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from vit.records import Record, reject

Embed = Callable[[list[str]], np.ndarray]
_EMBEDDER: dict[str, Any] = {}


def minilm(texts: list[str]) -> np.ndarray:
    """The dedup stage's text embedder, loaded once per process."""
    if "text" not in _EMBEDDER:
        from vit.embed import get_embedder

        _EMBEDDER["text"] = get_embedder("text")
    return _EMBEDDER["text"].embed_texts(texts, progress=False)


def default_eps() -> float:
    from vit.dedup.run import DedupConfig

    return DedupConfig().text_eps


def _same_image_pairs(records: list[Record]):
    from vit.dedup.groups import Pairs

    by_image: dict[str, list[int]] = defaultdict(list)
    for k, r in enumerate(records):
        if is_short(r):
            continue
        by_image[r.image or r.metadata.get("synth", {}).get("source_id", r.id)].append(k)
    pairs = [
        (a, b) for rows in by_image.values() for n, a in enumerate(rows) for b in rows[n + 1 :]
    ]
    i, j = (np.array(x, dtype=np.int64) for x in zip(*pairs, strict=True)) if pairs else ([], [])
    return Pairs(i, j, np.ones(len(i)))


def is_short(r: Record) -> bool:
    return r.metadata.get("synth", {}).get("type") == "short"


def cut_repeats(records: list[Record], embed: Embed, eps: float) -> int:
    """Cut exchanges that repeat an earlier one of the same conversation; returns how many."""
    from vit.dedup.text import drop_exchanges, exchanges, within_record_drops

    records = [r for r in records if not is_short(r)]
    per_record = [exchanges(r.conversations) for r in records]
    cut = within_record_drops([r.id for r in records], per_record, embed, eps)
    for r in records:
        if r.id in cut:
            r.conversations = drop_exchanges(r.conversations, [d["index"] for d in cut[r.id]])
            r.metadata.setdefault("synth", {})["dedup"] = cut[r.id]
    return sum(len(v) for v in cut.values())


def same_image_duplicates(records: list[Record], embed: Embed, eps: float) -> dict[int, tuple]:
    """{row: (kept row, similarity)} for records repeating another about the same image."""
    from vit.dedup.groups import rank, resolve
    from vit.dedup.text import embed_unique, exchanges, joint_pairs

    image_pairs = _same_image_pairs(records)
    if not len(image_pairs):
        return {}
    rows = np.unique(np.r_[image_pairs.i, image_pairs.j])
    texts = ["\n\n".join(exchanges(records[k].conversations)) for k in rows]
    vecs = embed_unique(texts, embed)
    emb = np.zeros((len(records), vecs.shape[1]), dtype=np.float32)
    emb[rows] = vecs
    removal = resolve(joint_pairs(image_pairs, emb, eps).canonical(), rank("first", len(records)))
    pairs = zip(removal.duplicate_of.tolist(), removal.sim.tolist(), strict=True)
    return dict(zip(removal.rows.tolist(), pairs, strict=True))


def dedup_instructions(
    records: list[Record], eps: float | None = None, embed: Embed | None = None
) -> tuple[list[Record], list[dict[str, Any]], dict[str, Any]]:
    """(records kept, with repeated exchanges cut; reject rows; summary)."""
    eps = default_eps() if eps is None else eps
    embed = embed or minilm
    n_cut = cut_repeats(records, embed, eps)
    gone = same_image_duplicates(records, embed, eps)
    rows = [
        reject(
            records[k].id,
            "synth_dedup",
            f"repeats {records[j].id} about the same image",
            code="duplicate",
            duplicate_of=records[j].id,
            similarity=round(sim, 6),
        )
        for k, (j, sim) in sorted(gone.items())
    ]
    kept = [r for k, r in enumerate(records) if k not in gone]
    summary = {
        "method": "vit.dedup.text" + (" (MiniLM)" if embed is minilm else ""),
        "eps": eps,
        "exchanges_cut": n_cut,
        "records_removed": len(gone),
    }
    return kept, rows, summary
