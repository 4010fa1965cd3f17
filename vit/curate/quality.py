"""Quality statistics and hashes of one image, from a single decode.

    from vit.curate.quality import analyze
    stats, hashes = analyze(image_root, "images/scene-000001.png")   # or raises ImageError

`analyze` opens the image through `vit.curate.images.load_image` (safe path, bomb guard,
full decode, the same ImageError codes as the LLaVA contract), converts it once to RGB and
once to grayscale, and derives everything from those two: the stats the quality filters
read and the exact/perceptual hashes dedup reads. Measures (cleanvision's issue types):

- `brightness`: mean gray level, 0-255 (too dark / too bright)
- `contrast`: std of the gray levels; `color_std`: the largest per-channel std of RGB. A
  uniform image has color_std 0; a yellow shape on pale blue has almost no *luminance*
  contrast but plenty of colour, which is why "uniform" reads colour, not gray.
- `entropy`: of the 256-bin gray histogram, in bits (0 = one gray level; low information)
- `blur`: variance of the 4-neighbour Laplacian (OpenCV's `Laplacian(ksize=1)`), taken per
  RGB channel and the largest kept, again so edges between colours of equal luminance
  count. Computed at most 256 px a side (box-reduced) so the number does not depend on
  resolution as much and big images cost the same as small ones.
- `grayscale`: mode L/LA/1/I/F, or RGB whose channels agree within a tolerance

Stats are rounded to 4 significant digits: they are stored in every record's metadata.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops

from vit.curate.hashes import image_hashes, to_rgb
from vit.curate.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    ImageInfo,
    PathResolver,
    load_image,
)

STATS_SIDE = 256  # stats are measured on a box-reduced copy at most this many px a side
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})
GRAY_TOLERANCE = 6  # channel spread (max - min) still counted as gray: JPEG chroma noise
GRAY_SHARE = 0.01  # share of pixels allowed above the tolerance in a "grayscale" image


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _reduced(img: Image.Image) -> Image.Image:
    factor = math.ceil(max(img.size) / STATS_SIDE)
    return img if factor <= 1 else img.reduce(factor)


def _laplacian_var(planes: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior, per plane, the largest.

    Planes are (c, h, w): numpy on an interleaved (h, w, 3) array is ~6x slower here.
    """
    if planes.shape[1] < 3 or planes.shape[2] < 3:
        return 0.0
    a = planes
    lap = a[:, :-2, 1:-1] + a[:, 2:, 1:-1] + a[:, 1:-1, :-2] + a[:, 1:-1, 2:] - 4 * a[:, 1:-1, 1:-1]
    return float(lap.reshape(len(a), -1).var(axis=1).max())


_LEVELS = np.arange(256, dtype=np.float64)


def _moments(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per row of (k, 256) histograms: exact, and far cheaper than on pixels."""
    n = hist.sum(axis=1)
    mean = hist @ _LEVELS / n
    var = np.maximum(hist @ (_LEVELS * _LEVELS) / n - mean * mean, 0.0)
    return mean, np.sqrt(var)


def _entropy(hist: np.ndarray) -> float:
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def _is_grayscale(mode: str, rgb: Image.Image) -> bool:
    if mode in GRAY_MODES:
        return True
    r, g, b = rgb.split()
    # channel spread per pixel = the largest pairwise difference; PIL does it in C
    spread = ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b))
    spread = ImageChops.lighter(spread, ImageChops.difference(r, b))
    hist = spread.histogram()
    return sum(hist[GRAY_TOLERANCE + 1 :]) <= GRAY_SHARE * rgb.width * rgb.height


def _stats(mode: str, rgb: Image.Image, gray: Image.Image) -> dict[str, Any]:
    small_rgb, small_gray = _reduced(rgb), _reduced(gray)
    ghist = np.asarray(small_gray.histogram(), dtype=np.float64)
    (g_mean,), (g_std,) = _moments(ghist[None])
    _, c_std = _moments(np.asarray(small_rgb.histogram(), dtype=np.float64).reshape(3, 256))
    planes = np.stack([np.asarray(c, dtype=np.float32) for c in small_rgb.split()])
    w, h = rgb.size
    return {
        "aspect": _round(max(w, h) / min(w, h)),
        "brightness": _round(g_mean),
        "contrast": _round(g_std),
        "color_std": _round(c_std.max()),
        "entropy": _round(_entropy(ghist)),
        "blur": _round(_laplacian_var(planes)),
        "grayscale": _is_grayscale(mode, small_rgb),
    }


def image_stats(img: Image.Image) -> dict[str, Any]:
    """Quality stats of one decoded image (any mode): size, aspect and the measures above."""
    rgb = to_rgb(img)
    return {"width": img.width, "height": img.height, **_stats(img.mode, rgb, rgb.convert("L"))}


def info_stats(info: ImageInfo) -> dict[str, Any]:
    """What the file says (not the pixels): size, mode, format, bytes, non-fatal issues."""
    return {
        "width": info.width,
        "height": info.height,
        "mode": info.mode,
        "format": info.format,
        "bytes": info.nbytes,
        "issues": [code for code, _ in info.issues],
    }


def analyze(
    root: str | Path,
    rel: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    resolver: PathResolver | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(stats, hashes) of the image `rel` under `root`, from one decode; raises ImageError.

    Pass a shared `resolver` when analyzing many images under one root (it caches the
    root and directory checks).
    """
    info, img = load_image(root, rel, max_pixels, resolver=resolver)
    try:
        rgb = to_rgb(img)
        gray = rgb.convert("L")
        stats = {**info_stats(info), **_stats(img.mode, rgb, gray)}
        return stats, image_hashes(rgb, gray)
    except Exception as e:  # an exotic mode PIL decodes but cannot convert: a reason, not a crash
        raise ImageError("image_unreadable", rel, f"cannot measure mode {img.mode}: {e}") from None
    finally:
        img.close()
