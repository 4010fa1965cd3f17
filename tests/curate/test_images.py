"""Image checks: every way an image named by a record can be unusable, caught with a reason."""

from __future__ import annotations

import io
import os
import pickle
import struct
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from vit.curate.images import ImageError, ImageInfo, PathResolver, check_image, check_images
from vit.records import RecordError


def png_bytes(w: int = 64, h: int = 48, noise: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    a = (
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        if noise
        else np.full((h, w, 3), 90, np.uint8)
    )
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(w: int = 64, h: int = 48, noise: bool = False) -> bytes:
    rng = np.random.default_rng(1)
    a = (
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        if noise
        else np.full((h, w, 3), 90, np.uint8)
    )
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A valid PNG whose IHDR claims w x h but carries almost no pixel data (a bomb)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "images"
    (r / "sub").mkdir(parents=True)
    (r / "good.png").write_bytes(png_bytes())
    (r / "sub" / "good.jpg").write_bytes(jpeg_bytes(80, 60))
    full = png_bytes(128, 128, noise=True)
    (r / "truncated.png").write_bytes(full[: len(full) // 2])
    fullj = jpeg_bytes(256, 256, noise=True)
    (r / "truncated.jpg").write_bytes(fullj[: len(fullj) // 2])
    (r / "empty.png").write_bytes(b"")
    (r / "text.png").write_text("this is not an image\n")
    (r / "jpeg_in.png").write_bytes(jpeg_bytes(32, 16))
    (r / "bomb.png").write_bytes(png_header_only(40000, 40000))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png_bytes())
    (r / "link_out.png").symlink_to(outside / "secret.png")
    (r / "dir_out").symlink_to(outside)
    (r / "link_in.png").symlink_to(r / "good.png")
    return r


def code_of(root: Path, rel: str, **kw) -> str:
    with pytest.raises(ImageError) as e:
        check_image(root, rel, **kw)
    assert repr(rel) in str(e.value)  # names the file
    return e.value.code


def test_good_png_and_jpeg(root: Path) -> None:
    info = check_image(root, "good.png")
    assert (info.width, info.height, info.format, info.mode) == (64, 48, "PNG", "RGB")
    assert info.issues == () and info.nbytes == (root / "good.png").stat().st_size
    jpg = check_image(root, "sub/good.jpg")
    assert (jpg.width, jpg.height, jpg.format) == (80, 60, "JPEG")  # header size, not draft size


def test_image_error_is_a_record_error() -> None:
    assert issubclass(ImageError, RecordError)


@pytest.mark.parametrize(
    ("rel", "code"),
    [
        ("truncated.png", "image_corrupt"),
        ("truncated.jpg", "image_corrupt"),
        ("empty.png", "image_empty"),
        ("text.png", "image_unreadable"),
        ("missing.png", "image_missing"),
        ("sub/missing.png", "image_missing"),
        ("nodir/missing.png", "image_missing"),
        ("sub", "image_unreadable"),
        ("link_out.png", "image_unsafe_path"),
        ("dir_out/secret.png", "image_unsafe_path"),
        ("../../etc/passwd", "image_unsafe_path"),
        ("sub/../../outside/secret.png", "image_unsafe_path"),
        ("/etc/passwd", "image_unsafe_path"),
        ("", "image_unsafe_path"),
        ("a\x00b.png", "image_unsafe_path"),
    ],
)
def test_bad_images_have_a_code(root: Path, rel: str, code: str) -> None:
    assert code_of(root, rel) == code


def test_symlink_inside_root_is_fine(root: Path) -> None:
    assert check_image(root, "link_in.png").width == 64
    assert check_image(root, "sub/../good.png").width == 64


def test_truncation_needs_decode(root: Path) -> None:
    # The header alone is intact: only a full decode finds the missing bytes.
    info = check_image(root, "truncated.png", decode=False)
    assert (info.width, info.height) == (128, 128)


def test_content_not_matching_extension_is_reported(root: Path) -> None:
    info = check_image(root, "jpeg_in.png")
    assert info.format == "JPEG"
    [(code, msg)] = info.issues
    assert code == "image_ext_mismatch" and "JPEG" in msg and ".png" in msg


def test_bomb_caught_from_header_before_decode(root: Path, monkeypatch) -> None:
    def no_decode(self):
        raise AssertionError("decoded a decompression bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    t = time.perf_counter()
    assert code_of(root, "bomb.png") == "image_too_large"
    # Under PIL's own limit but over ours: our header check refuses it, still undecoded.
    (root / "big.png").write_bytes(png_header_only(5000, 5000))
    assert code_of(root, "big.png", max_pixels=1_000_000) == "image_too_large"
    assert time.perf_counter() - t < 1.0


def test_pil_bomb_warning_is_an_error_and_filters_are_restored(root: Path) -> None:
    pil_limit = Image.MAX_IMAGE_PIXELS
    # 100M pixels: over PIL's warning limit (~89M), under its error limit and under ours.
    (root / "warn.png").write_bytes(png_header_only(10000, 10000))
    before = list(warnings.filters)
    assert code_of(root, "warn.png", max_pixels=10**9) == "image_too_large"
    res = check_images(root, ["warn.png", "good.png", "warn.png"], workers=2, max_pixels=10**9)
    assert [getattr(r, "code", "ok") for r in res] == ["image_too_large", "ok", "image_too_large"]
    assert warnings.filters == before and pil_limit == Image.MAX_IMAGE_PIXELS


def test_bomb_filter_is_thread_safe_and_keeps_other_filters(root: Path) -> None:
    (root / "warn.png").write_bytes(png_header_only(10000, 10000))
    before = list(warnings.filters)
    with warnings.catch_warnings():  # the caller's own identical filter must survive
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        mine = list(warnings.filters)
        check_images(root, ["warn.png", "good.png"], workers=2, max_pixels=10**9)
        assert warnings.filters == mine
    with ThreadPoolExecutor(4) as pool:  # overlapping validations from several threads
        runs = list(pool.map(lambda _: check_image(root, "good.png").width, range(40)))
    assert runs == [64] * 40 and warnings.filters == before


def test_check_images_keeps_order_and_matches_serial(root: Path) -> None:
    rels = ["good.png", "missing.png", "sub/good.jpg", "truncated.png", "../x", "good.png"]
    serial = check_images(root, rels, workers=1)
    threaded = check_images(root, rels, workers=3)
    kinds = [r.code if isinstance(r, ImageError) else r.format for r in threaded]
    assert kinds == ["PNG", "image_missing", "JPEG", "image_corrupt", "image_unsafe_path", "PNG"]
    assert [repr(r) if isinstance(r, ImageInfo) else r.code for r in serial] == [
        repr(r) if isinstance(r, ImageInfo) else r.code for r in threaded
    ]


def test_image_error_pickles(root: Path) -> None:
    [err] = check_images(root, ["missing.png"])
    back = pickle.loads(pickle.dumps(err))
    assert (back.code, back.rel, str(back)) == (err.code, err.rel, str(err))


def test_resolver_resolves_root_once(root: Path, monkeypatch) -> None:
    resolver = PathResolver(root)
    calls = []
    real = Path.resolve
    monkeypatch.setattr(Path, "resolve", lambda self, *a, **k: calls.append(self) or real(self))
    for i in range(50):
        with pytest.raises(ImageError):
            resolver(f"sub/missing{i}.png")
    resolver("good.png")
    assert len(calls) <= 2  # the `sub` directory once, never the root again


def test_unreadable_file(root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    p = root / "noperm.png"
    p.write_bytes(png_bytes())
    p.chmod(0)
    assert code_of(root, "noperm.png") == "image_unreadable"
