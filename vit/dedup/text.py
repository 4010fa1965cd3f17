"""Instruction-text duplicates, and joint image + instruction duplicates.

The text of an exchange is its human turn (without the `<image>` token) and the gpt answer;
a record's text is its exchanges joined. Embedded with MiniLM (`vit.embed` "text"), unit
norm, so similarity is a dot product. Three uses:

- within one record: an exchange nearly the same as an earlier one of the same record is
  dropped (the record stays; the first exchange, which holds `<image>`, is never dropped);
- across the dataset: records whose whole text is nearly the same (by default only records
  without an image: two different images with the same question are two samples);
- joint: a record is redundant when its image is a near/semantic duplicate of another
  record's image AND its instruction a near duplicate of that record's instruction. Either
  alone is common and harmless (one image, many questions; one question, many images).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from vit.dedup.groups import Pairs
from vit.records import IMAGE_TOKEN

_SPACE = re.compile(r"\s+")


def exchanges(conversations: Sequence[dict[str, str]]) -> list[str]:
    """One text per human -> gpt exchange, `<image>` removed and whitespace collapsed."""
    out: list[str] = []
    human: str | None = None
    for turn in conversations:
        text = _SPACE.sub(" ", turn["value"].replace(IMAGE_TOKEN, " ")).strip()
        if turn["from"] == "human":
            human = text
        elif human is not None:
            out.append(f"{human}\n{text}")
            human = None
    return out


def repeated_exchanges(x: np.ndarray, eps: float) -> list[tuple[int, int, float]]:
    """(later, earlier, similarity) for each exchange nearly equal to an earlier kept one.

    `x` holds one record's exchange embeddings in order; the first is always kept."""
    drops: list[tuple[int, int, float]] = []
    kept = [0]
    for k in range(1, len(x)):
        sims = x[kept] @ x[k]
        best = int(np.argmax(sims))
        if sims[best] >= 1.0 - eps:
            drops.append((k, kept[best], float(sims[best])))
        else:
            kept.append(k)
    return drops


def drop_exchanges(conversations: list[dict[str, str]], drop: Sequence[int]) -> list[dict]:
    """The conversation without the given exchange indices (each is a human + gpt pair)."""
    gone = set(drop)
    out, k, pending = [], 0, None
    for turn in conversations:
        if turn["from"] == "human":
            pending = turn
            continue
        if pending is not None:
            if k not in gone:
                out += [pending, turn]
            k, pending = k + 1, None
    if pending is not None:  # a trailing human turn (invalid upstream) is kept as it was
        out.append(pending)
    return out


def embed_unique(texts: Sequence[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Embed each distinct text once (templated instructions repeat a lot)."""
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    if len(uniq) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray(embed([str(t) for t in uniq]), dtype=np.float32)[inverse.reshape(-1)]


def joint_pairs(image_pairs: Pairs, text_emb: np.ndarray, eps: float) -> Pairs:
    """Image pairs whose texts also agree (cosine >= 1 - eps); sim = the lower of the two."""
    if len(image_pairs) == 0:
        return Pairs.empty()
    text_sim = np.einsum("nd,nd->n", text_emb[image_pairs.i], text_emb[image_pairs.j])
    ok = text_sim >= 1.0 - eps
    sim = np.minimum(image_pairs.sim[ok], text_sim[ok])
    return Pairs(image_pairs.i[ok], image_pairs.j[ok], sim)


def within_record_drops(
    ids: Sequence[str],
    per_record: Sequence[Sequence[str]],
    embed: Callable[[list[str]], np.ndarray],
    eps: float,
) -> dict[str, list[dict]]:
    """{id: dropped exchanges} over a batch; only records with 2+ exchanges are embedded.

    Each drop says which exchange, which earlier one it repeats, how close, and its text,
    so the record's metadata keeps what was taken out of it."""
    multi = [k for k, ex in enumerate(per_record) if len(ex) > 1]
    if not multi:
        return {}
    emb = embed_unique([t for k in multi for t in per_record[k]], embed)
    out, lo = {}, 0
    for k in multi:
        ex = per_record[k]
        drops = repeated_exchanges(emb[lo : lo + len(ex)], eps)
        lo += len(ex)
        if drops:
            out[ids[k]] = [
                {"index": a, "duplicate_of": b, "similarity": round(s, 6), "text": ex[a]}
                for a, b, s in drops
            ]
    return out
