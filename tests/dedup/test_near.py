"""Near duplicates: FAISS binary range search on 64-bit hashes, and the thumbnail check."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from vit.dedup.groups import Pairs
from vit.dedup.near import hamming_pairs, hash_candidates, hex_codes, verify
from vit.sources.scenes import make_scene

_POP = np.array([bin(i).count("1") for i in range(256)])


def _brute(codes: np.ndarray, radius: int) -> set[tuple[int, int]]:
    d = _POP[codes[:, None, :] ^ codes[None, :, :]].sum(-1)
    a, b = np.nonzero(np.triu(d <= radius, 1))
    return set(zip(a.tolist(), b.tolist(), strict=True))


def _codes(n: int, seed: int = 0) -> np.ndarray:
    """Random codes plus planted neighbours at 0..12 flipped bits."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    for k in range(0, n - 1, 7):
        bits = np.unpackbits(base[k])
        flip = rng.choice(64, size=int(rng.integers(0, 13)), replace=False)
        bits[flip] ^= 1
        base[k + 1] = np.packbits(bits)
    return base


@pytest.mark.parametrize("flat_max", [10_000, 0])  # IndexBinaryFlat, then IndexBinaryMultiHash
def test_hamming_pairs_match_brute_force(flat_max):
    codes = _codes(400)
    p = hamming_pairs(codes, 10, flat_max=flat_max)
    assert set(zip(p.i.tolist(), p.j.tolist(), strict=True)) == _brute(codes, 10)
    d = _POP[codes[p.i] ^ codes[p.j]].sum(-1)
    assert np.allclose(p.sim, 1 - d / 64)


def test_candidates_union_phash_and_dhash_legs_and_respect_valid():
    hexes = ["0" * 16, "0" * 15 + "f", "f" * 16, None]
    ph, ok = hex_codes(hexes)
    dh, _ = hex_codes(["0" * 16, "f" * 16, "0" * 15 + "1", None])
    c = hash_candidates(ph, 4, ok, extra=[(dh, 1)])
    assert set(zip(c.i.tolist(), c.j.tolist(), strict=True)) == {(0, 1), (0, 2)}
    assert not ok[3]


def _scene(index: int) -> Image.Image:
    return make_scene(0, index, 128)[1]


def _variants(img: Image.Image) -> dict[str, Image.Image]:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=35)
    w, h = img.size
    return {
        "jpeg": Image.open(io.BytesIO(buf.getvalue())).convert("RGB"),
        "resize": img.resize((w * 3 // 2, h * 3 // 2), Image.BILINEAR),
        "crop": img.crop((3, 2, w - 4, h - 3)),
        "bright": ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(0.85)).enhance(1.15),
        "rotate": img.rotate(4.0, resample=Image.BILINEAR, fillcolor=img.getpixel((0, 0))),
    }


def test_verify_accepts_edited_copies_and_rejects_other_scenes():
    base = _scene(3)
    images = [base, *_variants(base).values(), *(_scene(k) for k in range(10, 16))]
    n_dup = 6
    i, j = np.triu_indices(len(images), 1)
    ok = verify(Pairs(i, j, np.zeros(len(i))), lambda r: images[r])
    got = set(zip(ok.i.tolist(), ok.j.tolist(), strict=True))
    assert {(0, k) for k in range(1, n_dup)} <= got  # every edit matches the original
    assert all(a < n_dup and b < n_dup for a, b in got)  # and nothing else matches
    assert (ok.sim >= 0.975).all()
