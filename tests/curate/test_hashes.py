"""Content hashes: exact over decoded pixels, pHash/dHash as imagededup defines them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from scipy.fft import dct

from vit.curate.hashes import (
    dhash_bits,
    hamming,
    hamming_matrix,
    hashes_to_bytes,
    image_hashes,
    phash_bits,
    pixel_hash,
    to_rgb,
)
from vit.sources.scenes import make_scene


def reload(img: Image.Image, fmt: str, **kw) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out


def scene(i: int, size: int = 96) -> Image.Image:
    return make_scene(0, i, size)[1]


def test_resaved_png_keeps_its_pixel_hash():
    img = scene(1)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "re-saved by another tool")
    a, b = io.BytesIO(), io.BytesIO()
    img.save(a, "PNG", compress_level=1)
    img.save(b, "PNG", compress_level=9, pnginfo=meta)
    assert a.getvalue() != b.getvalue()  # different files ...
    ha = image_hashes(Image.open(io.BytesIO(a.getvalue())))
    hb = image_hashes(Image.open(io.BytesIO(b.getvalue())))
    assert ha == hb  # ... same pixels, same hashes


def test_pixel_hash_sees_one_pixel_and_the_size():
    img = scene(2)
    other = img.copy()
    other.putpixel((5, 5), (0, 0, 0) if img.getpixel((5, 5)) != (0, 0, 0) else (1, 1, 1))
    assert pixel_hash(img) != pixel_hash(other)
    # Same bytes, different shape: 2x8 vs 8x2 must not collide.
    flat = np.arange(48, dtype=np.uint8)
    wide = Image.fromarray(flat.reshape(2, 8, 3), "RGB")
    tall = Image.fromarray(flat.reshape(8, 2, 3), "RGB")
    assert pixel_hash(wide) != pixel_hash(tall)


def test_palette_and_rgb_versions_of_one_image_match():
    img = scene(3)
    pal = img.convert("P", palette=Image.ADAPTIVE, colors=256)
    assert pixel_hash(to_rgb(pal)) == pixel_hash(pal.convert("RGB"))


def test_phash_and_dhash_follow_the_imagededup_definitions():
    for i in range(10):
        gray = scene(i).convert("L")
        a = np.asarray(gray.resize((32, 32), Image.LANCZOS), dtype=np.float64)
        coef = dct(dct(a, axis=0), axis=1)[:8, :8]
        assert (phash_bits(gray) == (coef >= np.median(coef.ravel()[1:]))).all()
        d = np.asarray(gray.resize((9, 8), Image.LANCZOS), dtype=np.int16)
        assert (dhash_bits(gray) == (d[:, 1:] > d[:, :-1])).all()
    h = image_hashes(scene(0))
    assert len(h["phash"]) == len(h["dhash"]) == 16 and len(h["pixel"]) == 64


def test_jpeg_reencode_is_near_and_other_scenes_are_far():
    near, far = [], []
    hashes = [image_hashes(scene(i)) for i in range(24)]
    for i, h in enumerate(hashes):
        jpeg = image_hashes(reload(scene(i), "JPEG", quality=75))
        near.append(hamming(h["phash"], jpeg["phash"]))
        far += [hamming(h["phash"], o["phash"]) for o in hashes[i + 1 :]]
    # pHash of a nearly flat image (one small shape on a plain ground) can flip a few
    # bits more; most re-encodes do not move at all.
    assert np.median(near) <= 2 and np.mean(np.array(near) <= 6) >= 0.9
    assert min(far) > 6 and np.median(far) >= 24


def test_hashes_to_bytes_matches_hamming_and_faiss():
    hexes = [image_hashes(scene(i))["phash"] for i in range(6)]
    codes = hashes_to_bytes(hexes)
    assert codes.shape == (6, 8) and codes.dtype == np.uint8
    assert bytes(codes[0]).hex() == hexes[0]
    d = hamming_matrix(codes, codes)
    assert all(d[i, j] == hamming(hexes[i], hexes[j]) for i in range(6) for j in range(6))
    faiss = pytest.importorskip("faiss")
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    dist, idx = index.search(codes, 6)
    for i in range(6):
        assert sorted(dist[i].tolist()) == sorted(d[i].tolist())
    assert hashes_to_bytes([]).shape == (0, 8)
    with pytest.raises(ValueError):
        hashes_to_bytes(["abc"])
