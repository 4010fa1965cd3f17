"""Content hashes of one decoded image: exact (pixels) and perceptual (pHash, dHash).

    from vit.curate.hashes import image_hashes, hashes_to_bytes, hamming
    h = image_hashes(rgb)            # {"pixel": sha256 hex, "phash": 16 hex, "dhash": 16 hex}
    codes = hashes_to_bytes([h["phash"] for h in many])   # (n, 8) uint8 for faiss.IndexBinary*

`pixel` hashes the decoded RGB pixels and the size, not the file bytes, so a re-saved or
re-compressed-losslessly PNG (other zlib level, other metadata chunks) still matches.
pHash and dHash follow imagededup's definitions bit for bit in layout (row-major bits, most
significant first, `'%0.2x'` per byte), so hashes and Hamming radii compare with its
published numbers:

- pHash: 32x32 grayscale (Lanczos), 2-D DCT-II, keep the top-left 8x8 coefficients, bit =
  coefficient >= median of those 64 without the DC term.
- dHash: 9x8 grayscale, bit = pixel > its left neighbour (8 differences per row, 8 rows).

The DCT is two small matrix products with a precomputed 8x32 basis: only 64 of the 1024
coefficients are needed: ~5 us against ~25 us for two full scipy DCTs at this size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

HASH_BITS = 64
_PHASH_SIDE = 32
_PHASH_KEEP = 8


def _dct_basis(n: int, keep: int) -> np.ndarray:
    """Rows 0..keep-1 of the unnormalized DCT-II matrix (scipy's `dct(type=2)` scaling)."""
    k = np.arange(keep)[:, None]
    x = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * x + 1) / (2 * n))


_DCT = _dct_basis(_PHASH_SIDE, _PHASH_KEEP)  # (8, 32), float64 like scipy's


def to_rgb(img: Image.Image) -> Image.Image:
    """The image in 8-bit RGB. Palette and alpha images go through RGBA first, as imagededup
    does (a transparent palette entry then becomes its colour, not an arbitrary index);
    16-bit and float images are scaled to 8 bits, not clipped (PIL's convert would turn a
    16-bit PNG almost white)."""
    if img.mode == "RGB":
        return img
    if img.mode in _WIDE_MODES:
        return _scaled_to_8bit(img).convert("RGB")
    if img.mode in ("P", "PA", "LA", "La", "RGBa"):
        img = img.convert("RGBA")
    return img.convert("RGB")


_WIDE_MODES = frozenset({"I", "F", "I;16", "I;16B", "I;16L", "I;16N"})


def _scaled_to_8bit(img: Image.Image) -> Image.Image:
    a = np.asarray(img, dtype=np.float32)
    top = float(a.max()) if a.size else 0.0
    # 8-bit data stored wide stays as is; 16-bit data uses its full range; else min-max
    if top <= 255 and a.min() >= 0:
        scaled = a
    elif top <= 65535 and a.min() >= 0:
        scaled = a / 257.0
    else:
        lo = float(a.min())
        scaled = (a - lo) * (255.0 / max(top - lo, 1e-12))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def pixel_hash(rgb: Image.Image) -> str:
    """sha256 hex of the size and the RGB pixel bytes (exact duplicates up to encoding)."""
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(to_rgb(rgb).tobytes())
    return h.hexdigest()


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big")


def phash_bits(gray: Image.Image) -> np.ndarray:
    """The 8x8 boolean pHash matrix of a grayscale ('L') image."""
    small = gray.resize((_PHASH_SIDE, _PHASH_SIDE), Image.LANCZOS)
    a = np.asarray(small, dtype=np.float64)
    coef = _DCT @ a @ _DCT.T  # the top-left 8x8 of dct(dct(a, axis=0), axis=1)
    med = np.median(coef.ravel()[1:])  # without DC: it only says how bright the image is
    return coef >= med


def dhash_bits(gray: Image.Image) -> np.ndarray:
    """The 8x8 boolean dHash matrix of a grayscale ('L') image."""
    a = np.asarray(gray.resize((9, 8), Image.LANCZOS), dtype=np.int16)
    return a[:, 1:] > a[:, :-1]


def phash(gray: Image.Image) -> int:
    return _bits_to_int(phash_bits(gray))


def dhash(gray: Image.Image) -> int:
    return _bits_to_int(dhash_bits(gray))


def to_hex(h: int) -> str:
    return f"{h:016x}"


def image_hashes(rgb: Image.Image, gray: Image.Image | None = None) -> dict[str, str]:
    """{"pixel", "phash", "dhash"} of one decoded image; pass `gray` if already converted."""
    rgb = to_rgb(rgb)
    gray = gray if gray is not None else rgb.convert("L")
    return {
        "pixel": pixel_hash(rgb),
        "phash": to_hex(phash(gray)),
        "dhash": to_hex(dhash(gray)),
    }


def hashes_to_bytes(hexes: Sequence[str]) -> np.ndarray:
    """(n, 8) uint8 codes from 16-hex-digit hashes, the layout faiss binary indexes take
    (byte 0 holds the first 8 bits; Hamming distance is the same either way)."""
    if not hexes:
        return np.zeros((0, HASH_BITS // 8), dtype=np.uint8)
    blob = bytes.fromhex("".join(hexes))
    if len(blob) != len(hexes) * 8:
        raise ValueError("every hash must be 16 hex digits (64 bits)")
    return np.frombuffer(blob, dtype=np.uint8).reshape(len(hexes), 8).copy()


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: str | int, b: str | int) -> int:
    """Bits that differ between two 64-bit hashes (hex strings or ints)."""
    x = (int(a, 16) if isinstance(a, str) else a) ^ (int(b, 16) if isinstance(b, str) else b)
    return bin(x).count("1")


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) Hamming distances between (n, 8) and (m, 8) uint8 codes; for small sets and
    tests (dedup uses faiss binary indexes for anything large)."""
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return _POPCOUNT[x].sum(axis=2, dtype=np.int32)
