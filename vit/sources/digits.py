"""Real images with no network: scikit-learn's handwritten digits as instruction records.

    vit generate digits --out data/raw/digits [--limit N]

`sklearn.datasets.load_digits()` ships inside scikit-learn (1797 images, 8 x 8, values 0-16).
Each becomes an upscaled grayscale PNG (white ink on black, nearest-neighbour so the pixels
stay the originals) and one record whose conversation phrases classification as an
instruction, as the source document asks. Output:

    OUT/images/digit-00000.png   size x size grayscale PNGs (byte-identical across runs)
    OUT/digits.jsonl             one `Record.to_dict()` JSON object a line, source="digits"
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vit.records import IMAGE_TOKEN, Annotation, Record, write_jsonl
from vit.sources.scenes import encode_png

SOURCE = "digits"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# (question, answer is a bare digit?) — a bare answer where the prompt asks for one.
QUESTIONS = (
    ("Which digit is written in this image?", False),
    ("What number is shown in the picture? Answer with a single digit.", True),
    ("Classify the handwritten digit in this image.", False),
    ("What digit from 0 to 9 does this image show?", False),
    ("Read the handwritten digit. Reply with the digit only.", True),
)


def digit_image(pixels: np.ndarray, size: int) -> Image.Image:
    """An 8 x 8 array of 0..16 as a size x size 8-bit grayscale image."""
    arr = np.rint(np.asarray(pixels, dtype=np.float64) * (255 / 16)).astype(np.uint8)
    return Image.fromarray(arr, "L").resize((size, size), Image.NEAREST)


def digit_captions(d: int, size: int) -> list[str]:
    return [
        f"A handwritten digit {d}.",
        f"A low-resolution grayscale image of the handwritten digit {DIGIT_WORDS[d]}.",
        f"The number {d}, written by hand in white on a black background.",
        f"A {size}x{size} upscaled scan of a handwritten {d}.",
    ]


def digit_conversation(d: int, rng: np.random.Generator) -> list[dict[str, str]]:
    question, bare = QUESTIONS[int(rng.integers(len(QUESTIONS)))]
    return [
        {"from": "human", "value": f"{IMAGE_TOKEN}\n{question}"},
        {"from": "gpt", "value": str(d) if bare else f"The digit is {d}."},
    ]


def digit_record(i: int, d: int, size: int, seed: int, rng: np.random.Generator) -> Record:
    rid = f"digit-{i:05d}"
    return Record(
        id=rid,
        image=f"images/{rid}.png",
        width=size,
        height=size,
        source=SOURCE,
        annotations=[Annotation(label=str(d))],
        captions=digit_captions(d, size),
        conversations=digit_conversation(d, rng),
        metadata={"target": d, "sklearn_index": i, "seed": seed},
    )


def generate_digits(
    out: Path, limit: int | None = None, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Write the first `limit` sklearn digits (all 1797 by default); returns counts per label.

    `vit generate digits --out DIR`. Same arguments, same bytes in every file; `seed` only
    picks the question wording per record.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    n = len(data.target) if limit is None else min(int(limit), len(data.target))
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        d = int(data.target[i])
        rec = digit_record(i, d, size, seed, rng)
        (out / rec.image).write_bytes(encode_png(digit_image(data.images[i], size)))
        records.append(rec)
    write_jsonl(out / "digits.jsonl", (r.to_dict() for r in records))
    labels = Counter(r.annotations[0].label for r in records)
    return {"out": str(out), "count": n, "size": size, "labels": dict(sorted(labels.items()))}
