"""Quality stats from one decode, and analyze()'s reuse of the image checks' error codes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from vit.curate.images import ImageError, load_image
from vit.curate.quality import analyze, image_stats
from vit.sources.defects import bomb_png, truncate_png
from vit.sources.scenes import encode_png, make_scene


def save(root: Path, rel: str, img: Image.Image, fmt: str = "PNG", **kw) -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    img.save(root / rel, fmt, **kw)
    return rel


def test_blank_image_has_no_spread_no_entropy_no_edges():
    s = image_stats(Image.new("RGB", (64, 64), (200, 10, 10)))
    assert s["color_std"] == s["contrast"] == s["entropy"] == s["blur"] == 0
    assert s["grayscale"] is False and s["width"] == 64 and s["aspect"] == 1


def test_noise_is_high_on_every_measure():
    a = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    s = image_stats(Image.fromarray(a))
    assert s["entropy"] > 7 and s["color_std"] > 60 and s["blur"] > 10_000
    assert s["aspect"] == 1.5 and 100 < s["brightness"] < 155


def test_edges_between_colours_of_equal_luminance_still_count():
    # yellow on pale blue: ~10 gray levels apart, but sharp and colourful
    img = Image.new("RGB", (128, 128), (205, 218, 232))
    img.paste((245, 220, 30), (40, 40, 60, 60))
    s = image_stats(img)
    assert s["contrast"] < 3  # the gray image barely sees it ...
    assert s["color_std"] > 10 and s["blur"] > 100  # ... colour does


def test_grayscale_detection():
    gray = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1)), "L")
    assert image_stats(gray)["grayscale"] is True
    assert image_stats(gray.convert("RGB"))["grayscale"] is True
    rgb = gray.convert("RGB")
    rgb.paste((255, 0, 0), (0, 0, 20, 20))  # 20% of the pixels are red
    assert image_stats(rgb)["grayscale"] is False


def test_blur_drops_with_a_gaussian_and_big_images_are_reduced():
    _, img = make_scene(0, 5, 128)
    sharp = image_stats(img)["blur"]
    assert image_stats(img.filter(ImageFilter.GaussianBlur(2)))["blur"] < sharp / 20
    big = img.resize((1024, 1024), Image.NEAREST)  # measured at 256 px: same order
    assert image_stats(big)["width"] == 1024
    assert 0.1 < image_stats(big)["blur"] / sharp < 10


def test_analyze_returns_stats_and_hashes_from_one_decode(tmp_path):
    _, img = make_scene(0, 1, 96)
    rel = save(tmp_path, "images/a.png", img)
    stats, hashes = analyze(tmp_path, rel)
    assert (stats["width"], stats["height"], stats["format"]) == (96, 96, "PNG")
    assert stats["issues"] == [] and stats["bytes"] == (tmp_path / rel).stat().st_size
    assert set(hashes) == {"pixel", "phash", "dhash"}
    assert stats["blur"] == image_stats(img)["blur"]


def test_jpeg_is_decoded_at_full_size(tmp_path):
    # the contract's check decodes JPEGs at 1/8 scale; hashes and stats need every pixel
    a = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    rel = save(tmp_path, "b.jpg", Image.fromarray(a), "JPEG", quality=90)
    info, img = load_image(tmp_path, rel)
    assert img.size == (640, 480) == (info.width, info.height)
    stats, _ = analyze(tmp_path, rel)
    assert stats["width"] == 640 and stats["aspect"] == pytest.approx(1.333, abs=1e-3)


def test_extension_mismatch_is_an_issue_not_an_error(tmp_path):
    rel = save(tmp_path, "c.jpg", make_scene(0, 2, 64)[1], "PNG")
    stats, _ = analyze(tmp_path, rel)
    assert stats["issues"] == ["image_ext_mismatch"] and stats["format"] == "PNG"


@pytest.mark.parametrize(
    "rel,data,code",
    [
        ("t.png", "truncated", "image_corrupt"),
        ("z.png", b"", "image_empty"),
        ("n.png", b"not an image at all\n" * 8, "image_unreadable"),
        ("bomb.png", "bomb", "image_too_large"),
        ("missing.png", None, "image_missing"),
        ("../../etc/passwd", None, "image_unsafe_path"),
        ("/etc/passwd", None, "image_unsafe_path"),
    ],
)
def test_analyze_raises_the_image_checks_codes(tmp_path, rel, data, code):
    if data == "truncated":
        data = truncate_png(encode_png(make_scene(0, 3, 64)[1]), 0.5)
    elif data == "bomb":
        data = bomb_png()
    if data is not None:
        (tmp_path / rel).write_bytes(data)
    with pytest.raises(ImageError) as e:
        analyze(tmp_path, rel)
    assert e.value.code == code


def test_palette_and_alpha_images_are_analyzed(tmp_path):
    _, img = make_scene(0, 4, 64)
    p = save(tmp_path, "p.png", img.convert("P", palette=Image.ADAPTIVE))
    la = save(tmp_path, "la.png", img.convert("LA"))
    assert analyze(tmp_path, p)[0]["mode"] == "P"
    stats, _ = analyze(tmp_path, la)
    assert stats["mode"] == "LA" and stats["grayscale"] is True
    buf = io.BytesIO()
    img.convert("RGBA").save(buf, "PNG")
    (tmp_path / "rgba.png").write_bytes(buf.getvalue())
    assert analyze(tmp_path, "rgba.png")[1] == analyze(tmp_path, save(tmp_path, "q.png", img))[1]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    a = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    stats, _ = analyze(tmp_path, "deep.png")
    assert stats["mode"].startswith("I") and 120 < stats["brightness"] < 135


def test_a_mode_that_cannot_be_measured_is_a_reason_not_a_crash(tmp_path, monkeypatch):
    import vit.curate.quality as quality

    rel = save(tmp_path, "a.png", make_scene(0, 1, 64)[1])

    def refuse(img):
        raise ValueError("conversion from La to L not supported")

    monkeypatch.setattr(quality, "to_rgb", refuse)
    with pytest.raises(ImageError) as e:
        analyze(tmp_path, rel)
    assert e.value.code == "image_unreadable" and "La to L" in str(e.value)
