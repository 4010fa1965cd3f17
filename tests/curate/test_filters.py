"""Each curation filter on a crafted image or record: the right reason, the measured value."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from vit.curate.filters import (
    CurateConfig,
    LengthFilter,
    build_filters,
    first_failure,
    record_flags,
)
from vit.curate.images import ImageError
from vit.curate.quality import analyze
from vit.records import IMAGE_TOKEN, Record
from vit.sources.scenes import make_scene

FILTERS = build_filters(CurateConfig())


def rec_for(rel: str | None, question: str = "What is shown?", answer: str = "Shapes.") -> Record:
    token = f"{IMAGE_TOKEN}\n" if rel else ""
    convs = [{"from": "human", "value": token + question}, {"from": "gpt", "value": answer}]
    return Record(id="r", image=rel, conversations=convs)


def verdict(root: Path, img: Image.Image | None, filters=FILTERS, **rec_kw):
    """(filter name, reason, value) of the first failing filter, or None."""
    rel = None
    stats = None
    if img is not None:
        rel = "img.png"
        img.save(root / rel)
        stats, _ = analyze(root, rel)
    failed = first_failure(filters, rec_for(rel, **rec_kw), stats)
    return None if failed is None else (failed[0].name, failed[1], failed[2])


def scene(i: int = 7, size: int = 128) -> Image.Image:
    return make_scene(0, i, size)[1]


def test_a_clean_scene_passes_every_filter(tmp_path):
    assert verdict(tmp_path, scene()) is None


@pytest.mark.parametrize(
    "img,name,reason",
    [
        (Image.new("RGB", (128, 128), (235, 228, 210)), "uniform", "uniform"),
        (scene().resize((12, 12)), "size", "too_small"),
        (scene().resize((256, 40)), "aspect", "extreme_aspect"),
        (scene().filter(ImageFilter.GaussianBlur(3)), "blur", "blurry"),
    ],
)
def test_image_filters_drop_with_reason_and_value(tmp_path, img, name, reason):
    got = verdict(tmp_path, img)
    assert got is not None and got[:2] == (name, reason)
    assert isinstance(got[2], int | float)


def test_size_value_is_the_short_side(tmp_path):
    assert verdict(tmp_path, scene().resize((40, 20))) == ("size", "too_small", 20)


def test_low_information_a_speck_on_a_blank(tmp_path):
    img = Image.new("RGB", (128, 128), (200, 200, 200))
    img.paste((20, 20, 20), (10, 10, 13, 13))  # 9 pixels: enough colour spread to pass
    assert verdict(tmp_path, img)[:2] == ("low_information", "low_information")


def noisy(level: int) -> Image.Image:
    rng = np.random.default_rng(0)
    a = np.clip(rng.normal(level, 6, (64, 64, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def test_dark_and_bright(tmp_path):
    dark, bright = verdict(tmp_path, noisy(4)), verdict(tmp_path, noisy(252))
    assert dark[:2] == ("brightness", "too_dark") and dark[2] < 10
    assert bright[:2] == ("brightness", "too_bright") and bright[2] > 248


def test_grayscale_is_flagged_not_dropped_unless_asked(tmp_path):
    _, img = make_scene(0, 7, 128)
    gray = img.convert("L")
    assert verdict(tmp_path, gray) is None
    stats, _ = analyze(tmp_path, "img.png")
    assert record_flags(rec_for("img.png"), stats) == ["grayscale"]
    strict = build_filters(CurateConfig(drop_grayscale=True))
    assert verdict(tmp_path, gray, strict) == ("grayscale", "grayscale", True)


def test_extension_mismatch_flagged_or_dropped(tmp_path):
    scene().save(tmp_path / "x.jpg", "PNG")
    stats, _ = analyze(tmp_path, "x.jpg")
    rec = rec_for("x.jpg")
    assert first_failure(FILTERS, rec, stats) is None
    assert record_flags(rec, stats) == ["image_ext_mismatch"]
    strict = build_filters(CurateConfig(drop_ext_mismatch=True))
    assert first_failure(strict, rec, stats)[1] == "image_ext_mismatch"


def test_overlong_text(tmp_path):
    long_turn = verdict(tmp_path, scene(), answer="x" * 4001)
    assert long_turn == ("length", "turn_too_long", 4001)
    f = LengthFilter(max_turn_chars=100, max_total_chars=150)
    convs = [{"from": "human", "value": "a" * 90}, {"from": "gpt", "value": "b" * 90}]
    assert f.check(Record(id="t", conversations=convs), None) == ("text_too_long", 180)


def test_conversation_contract_errors(tmp_path):
    empty = verdict(tmp_path, scene(), answer="   ")
    assert empty[:2] == ("conversation", "empty_turn") and "empty" in empty[2]
    rec = rec_for("img.png", question="What is shown?")
    rec.conversations[0]["value"] = rec.conversations[0]["value"].replace(IMAGE_TOKEN, "")
    stats, _ = analyze(tmp_path, "img.png")
    failed = first_failure(FILTERS, rec, stats)
    assert (failed[0].name, failed[1]) == ("conversation", "image_token_count")
    two = rec_for("img.png", question=f"{IMAGE_TOKEN} twice?")
    assert first_failure(FILTERS, two, stats)[1] == "image_token_count"


def test_decode_comes_first(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"")
    with pytest.raises(ImageError) as e:
        analyze(tmp_path, "bad.png")
    failed = first_failure(FILTERS, rec_for("bad.png", answer=""), e.value)
    assert (failed[0].name, failed[1]) == ("decode", "image_empty")
    assert failed[0].overridable is False


def test_text_only_records_skip_image_filters():
    rec = rec_for(None)
    assert first_failure(FILTERS, rec, None) is None and record_flags(rec, None) == []


def test_template_marker_is_flagged():
    rec = rec_for(None, answer="Shapes.</s>")
    assert first_failure(FILTERS, rec, None) is None
    assert record_flags(rec, None) == ["template_marker"]


def test_config_fields_have_help_and_none_disables(tmp_path):
    for f in fields(CurateConfig):
        assert f.metadata.get("help"), f.name
    assert "workers" not in CurateConfig().params()
    off = CurateConfig(min_std=None, min_entropy=None, min_blur=None, min_side=None)
    blank = Image.new("RGB", (8, 8), (120, 120, 120))
    assert verdict(tmp_path, blank, build_filters(off)) is None
    names = [f.name for f in FILTERS]
    assert names == [
        "decode",
        "size",
        "aspect",
        "uniform",
        "low_information",
        "blur",
        "brightness",
        "conversation",
        "length",
    ]
