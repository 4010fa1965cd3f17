"""sklearn digits as instruction records: counts, labels, pixels, determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from vit.records import IMAGE_TOKEN, Record
from vit.sources.digits import DIGIT_WORDS, generate_digits

LIMIT, SIZE = 60, 32


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_digits_records_and_images(tmp_path: Path) -> None:
    summary = generate_digits(tmp_path, limit=LIMIT, size=SIZE)
    data = load_digits()
    lines = (tmp_path / "digits.jsonl").read_text().splitlines()
    recs = [Record.from_dict(json.loads(x)) for x in lines]
    assert summary["count"] == len(recs) == LIMIT
    assert sum(summary["labels"].values()) == LIMIT
    for i, r in enumerate(recs):
        d = int(data.target[i])
        assert r.id == f"digit-{i:05d}" and r.image == f"images/digit-{i:05d}.png"
        assert r.source == "digits" and (r.width, r.height) == (SIZE, SIZE)
        assert [a.label for a in r.annotations] == [str(d)]
        assert len(r.captions) >= 3 and all(str(d) in c or DIGIT_WORDS[d] in c for c in r.captions)
        human, gpt = r.conversations
        assert human["from"] == "human" and human["value"].count(IMAGE_TOKEN) == 1
        assert gpt["from"] == "gpt" and gpt["value"] in (str(d), f"The digit is {d}.")
        with Image.open(tmp_path / r.image) as im:
            assert im.size == (SIZE, SIZE) and im.mode == "L" and im.format == "PNG"
            arr = np.asarray(im)
        # Nearest-neighbour upscaling keeps the original 8 x 8 values, scaled to 0..255.
        step = SIZE // 8
        expected = np.rint(data.images[i] * 255 / 16).astype(np.uint8)
        assert np.array_equal(arr[::step, ::step], expected)
    assert len({r.conversations[0]["value"] for r in recs}) > 1


def test_digits_deterministic(tmp_path: Path) -> None:
    generate_digits(tmp_path / "a", limit=20, size=SIZE)
    generate_digits(tmp_path / "b", limit=20, size=SIZE)
    generate_digits(tmp_path / "c", limit=20, size=SIZE, seed=1)
    a, b, c = hashes(tmp_path / "a"), hashes(tmp_path / "b"), hashes(tmp_path / "c")
    assert a == b and len(a) == 21
    # The seed only varies the question wording; the pixels are the dataset's.
    assert a["digits.jsonl"] != c["digits.jsonl"]
    assert all(a[k] == c[k] for k in a if k.startswith("images/"))


def test_digits_full_set_default(tmp_path: Path) -> None:
    summary = generate_digits(tmp_path, size=8)
    assert summary["count"] == len(load_digits().target) == 1797
    assert set(summary["labels"]) == {str(d) for d in range(10)}
