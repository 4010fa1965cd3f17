"""Known defects injected into the synthetic scenes, with the ground truth of each one.

Called by `generate_scenes` (`vit generate scenes --n N --seed S --out DIR`) when
`defect_rate > 0`, so curation and dedup quality can be measured, not asserted.

About `round(defect_rate * n)` defective records are added *beside* the n clean scenes (the
clean ones are never altered); with n >= 100 every kind (and every variant below) appears at
least once, even if that exceeds the rate. Defective records take the ids after the clean
ones (`scene-{n}` on) in a seeded random order of kinds. `OUT/defects.jsonl` holds one line
per defect:

    {"kind", "id", "file", "of", "detail", "caught_by"}

`id` is the record id (for malformed JSON, the id the line would have had), `file` the image
written for it relative to OUT (for missing_image, the path that does not exist; null when
there is none), `of` the original's id for duplicates (else null),
`caught_by` the stage expected to catch it: ingest, curate or dedup.
"""

from __future__ import annotations

import copy
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from vit.records import IMAGE_TOKEN, Record, write_jsonl
from vit.sources.captions import caption_conversation, scene_captions
from vit.sources.scenes import BACKGROUNDS, COLORS, encode_png, make_scene, scene_id

CAUGHT_BY = {
    "exact_duplicate": "dedup",
    "near_duplicate": "dedup",
    "truncated": "ingest",
    "zero_byte": "ingest",
    "not_an_image": "ingest",
    "decompression_bomb": "ingest",
    "blank": "curate",
    "tiny": "curate",
    "missing_image": "ingest",
    "malformed_json": "ingest",
    "path_escape": "ingest",
    "image_token_mismatch": "ingest",
}
NEAR_TRANSFORMS = ("jpeg", "resize", "crop", "brightness_contrast", "rotate")
VARIANTS: list[tuple[str, str]] = [
    ("exact_duplicate", ""),
    *(("near_duplicate", t) for t in NEAR_TRANSFORMS),
    *((k, "") for k in ("truncated", "zero_byte", "not_an_image", "decompression_bomb")),
    *((k, "") for k in ("blank", "tiny", "missing_image", "malformed_json")),
    ("path_escape", "relative"),
    ("path_escape", "absolute"),
    ("image_token_mismatch", "two"),
    ("image_token_mismatch", "none"),
]
# Beyond one of each, duplicates dominate: they are the common defect of real corpora.
_EXTRA_WEIGHTS = np.array(
    [
        0.25 if k == "exact_duplicate" else 0.08 if k == "near_duplicate" else 0.35 / 12
        for k, _ in VARIANTS
    ]
)
JPEG_QUALITIES = (35, 55, 75, 90)
BOMB_SIDE = 40_000


@dataclass
class Injected:
    """What `inject_defects` adds: raw lines for scenes.jsonl and rows of defects.jsonl."""

    lines: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Ctx:
    out: Path
    originals: list[Record]
    seed: int
    size: int
    rng: np.random.Generator

    def original(self) -> Record:
        return self.originals[int(self.rng.integers(len(self.originals)))]

    def fresh(self, index: int) -> tuple[Record, Image.Image]:
        return make_scene(self.seed, index, self.size)

    def write(self, rel: str, data: bytes) -> str:
        (self.out / rel).write_bytes(data)
        return rel


def _row(kind: str, rid: str | None, file: str | None, detail: str, of: str | None = None) -> dict:
    return {
        "kind": kind,
        "id": rid,
        "file": file,
        "of": of,
        "detail": detail,
        "caught_by": CAUGHT_BY[kind],
    }


def plan_defects(n: int, rate: float, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Which (kind, variant) to inject, in the order they take ids."""
    if rate <= 0 or n <= 0:
        return []
    m = int(round(rate * n))
    if n >= 100 or m >= len(VARIANTS):
        picks = list(VARIANTS)
        extra = rng.choice(len(VARIANTS), size=max(0, m - len(picks)), p=_EXTRA_WEIGHTS)
        picks += [VARIANTS[int(i)] for i in extra]
    else:
        picks = [VARIANTS[int(i)] for i in rng.choice(len(VARIANTS), size=m, replace=False)]
    # Shuffled so an id (scene-{n+j}) says nothing about the kind.
    return [picks[int(i)] for i in rng.permutation(len(picks))]


def bomb_png(width: int = BOMB_SIDE, height: int = BOMB_SIDE, rows: int = 16) -> bytes:
    """A small, well-formed PNG whose IHDR claims width x height 8-bit gray pixels.

    Only `rows` rows of data follow, so the file is tiny, but a decoder that trusts the
    header would allocate width * height bytes.
    """

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress((b"\x00" + bytes(width)) * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncate_png(data: bytes, frac: float) -> bytes:
    """Cut inside the first IDAT chunk, so the header parses but the pixels never finish."""
    at = data.index(b"IDAT")
    length = struct.unpack(">I", data[at - 4 : at])[0]
    return data[: at + 4 + max(1, int(length * frac))]


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def _copy(orig: Record, rid: str, image: str) -> Record:
    rec = copy.deepcopy(orig)
    rec.id, rec.image = rid, image
    return rec


def exact_duplicate(ctx: _Ctx, idx: int, _kind: str, _variant: str) -> tuple[str, dict]:
    orig, rid = ctx.original(), scene_id(idx)
    rel = ctx.write(f"images/{rid}.png", (ctx.out / orig.image).read_bytes())
    detail = f"byte-identical copy of {orig.image} under a new name"
    return _copy(orig, rid, rel).to_json(), _row("exact_duplicate", rid, rel, detail, orig.id)


def _crop_margins(rec: Record, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Pixels to cut per side: up to 5% each (10% a dimension), not into an object."""
    boxes = np.array([a.box for a in rec.annotations])
    free = [boxes[:, 0].min() * w, boxes[:, 1].min() * w]
    free += [(1 - boxes[:, 2].max()) * w, (1 - boxes[:, 3].max()) * w]
    cut = [int(min(np.floor(f), rng.uniform(0, 0.05) * w)) for f in free]
    if sum(cut) == 0:  # at least a pixel, else it would be an exact duplicate
        side = int(np.argmax(free))
        # Objects touching every edge (rare): cut 1 px into them; their boxes get clipped.
        cut[side] = max(1, min(int(np.floor(free[side])), int(0.02 * w)))
    return tuple(cut)  # type: ignore[return-value]


def _crop(rec: Record, img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    w, h = img.size
    left, top, right, bottom = _crop_margins(rec, w, rng)
    out = img.crop((left, top, w - right, h - bottom))
    nw, nh = out.size
    for a in rec.annotations:
        x1, y1, x2, y2 = a.box
        a.box = [
            round(min(max(v, 0.0), 1.0), 6)
            for v in (
                (x1 * w - left) / nw,
                (y1 * h - top) / nh,
                (x2 * w - left) / nw,
                (y2 * h - top) / nh,
            )
        ]
    # Positions in the frame moved a little: re-derive the captions from the new boxes.
    rec.captions = scene_captions(rec.annotations, rng)
    rec.conversations = caption_conversation(rec.captions, rng)
    return (
        out,
        f"crop l={left} t={top} r={right} b={bottom} px to {nw}x{nh}; boxes adjusted exactly, captions rewritten",
    )


def _transform(variant: str, rec: Record, img: Image.Image, rng: np.random.Generator):
    """Apply one near-duplicate transform; returns (image, file bytes, extension, detail)."""
    if variant == "jpeg":
        q = int(rng.choice(JPEG_QUALITIES))
        return img, encode_jpeg(img, q), "jpg", f"jpeg re-encode at quality {q}; boxes exact"
    if variant == "resize":
        f = float(rng.choice([0.5, 0.75, 1.25, 1.5]))
        img = img.resize((round(img.width * f), round(img.height * f)), Image.BILINEAR)
        return (
            img,
            encode_png(img),
            "png",
            f"resize x{f} to {img.width}x{img.height}; normalized boxes exact",
        )
    if variant == "crop":
        img, detail = _crop(rec, img, rng)
        return img, encode_png(img), "png", detail
    if variant == "brightness_contrast":
        b, c = (float(rng.choice([-1, 1]) * rng.uniform(0.08, 0.2) + 1) for _ in range(2))
        img = ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(b)).enhance(c)
        return img, encode_png(img), "png", f"brightness x{b:.2f}, contrast x{c:.2f}; boxes exact"
    angle = float(rng.choice([-1, 1]) * rng.uniform(1.0, 5.0))
    img = img.rotate(angle, resample=Image.BILINEAR, fillcolor=img.getpixel((0, 0)))
    return (
        img,
        encode_png(img),
        "png",
        f"rotate {angle:.1f} degrees; boxes kept approximate (not rotated)",
    )


def near_duplicate(ctx: _Ctx, idx: int, _kind: str, variant: str) -> tuple[str, dict]:
    orig, rid = ctx.original(), scene_id(idx)
    rec = _copy(orig, rid, "")
    with Image.open(ctx.out / orig.image) as src:
        img = src.convert("RGB")
    img, data, ext, detail = _transform(variant, rec, img, ctx.rng)
    rec.image = ctx.write(f"images/{rid}.{ext}", data)
    rec.width, rec.height = img.size
    return rec.to_json(), _row("near_duplicate", rid, rec.image, f"{variant}: {detail}", orig.id)


def broken_file(ctx: _Ctx, idx: int, kind: str, _variant: str) -> tuple[str, dict]:
    """truncated / zero_byte / not_an_image / decompression_bomb: a record whose file is bad."""
    rec, img = ctx.fresh(idx)
    if kind == "truncated":
        full = encode_png(img)
        data = truncate_png(full, float(ctx.rng.uniform(0.3, 0.7)))
        detail = f"PNG cut inside IDAT at {len(data)} of {len(full)} bytes"
    elif kind == "zero_byte":
        data, detail = b"", "empty file"
    elif kind == "not_an_image":
        data = b"This is not an image. It is plain text saved with a .png name.\n" * 4
        detail = "text content with a .png extension"
    else:
        data = bomb_png()
        detail = f"IHDR claims {BOMB_SIDE}x{BOMB_SIDE} pixels in a {len(data)}-byte file"
    rel = ctx.write(rec.image, data)
    return rec.to_json(), _row(kind, rec.id, rel, detail)


def bad_pixels(ctx: _Ctx, idx: int, kind: str, _variant: str) -> tuple[str, dict]:
    """blank / tiny: the file decodes fine but is useless; the annotations no longer fit."""
    rec, img = ctx.fresh(idx)
    if kind == "blank":
        fills = {**COLORS, **BACKGROUNDS}
        name = list(fills)[int(ctx.rng.integers(len(fills)))]
        img = Image.new("RGB", img.size, fills[name])
        detail = f"uniform {name} image; the record still describes {len(rec.annotations)} objects"
    else:
        side = int(ctx.rng.integers(6, 16))
        img = img.resize((side, side), Image.BILINEAR)
        detail = f"scene downscaled to {side}x{side} px"
    rec.width, rec.height = img.size
    rel = ctx.write(rec.image, encode_png(img))
    return rec.to_json(), _row(kind, rec.id, rel, detail)


def bad_record(ctx: _Ctx, idx: int, kind: str, _variant: str) -> tuple[str, dict]:
    """missing_image / malformed_json: the record itself is broken; no image is written."""
    rec, _ = ctx.fresh(idx)
    if kind == "missing_image":
        return rec.to_json(), _row(kind, rec.id, rec.image, "the image file was never written")
    text = rec.to_json()
    cut = text[: int(len(text) * ctx.rng.uniform(0.3, 0.8))]
    return cut, _row(kind, rec.id, None, f"JSON line cut at {len(cut)} of {len(text)} chars")


def path_escape(ctx: _Ctx, idx: int, _kind: str, variant: str) -> tuple[str, dict]:
    rec, _ = ctx.fresh(idx)
    rec.image = "../../etc/passwd" if variant == "relative" else "/etc/passwd"
    detail = f"{variant} image path {rec.image!r} points outside the data root"
    return rec.to_json(), _row("path_escape", rec.id, None, detail)


def image_token_mismatch(ctx: _Ctx, idx: int, _kind: str, variant: str) -> tuple[str, dict]:
    rec, img = ctx.fresh(idx)
    rel = ctx.write(rec.image, encode_png(img))
    turn = rec.conversations[0]
    if variant == "two":
        turn["value"] = f"{IMAGE_TOKEN}\n{turn['value']}"
        detail = f"human turn has 2 {IMAGE_TOKEN} tokens for 1 image"
    else:
        turn["value"] = turn["value"].replace(IMAGE_TOKEN, "").strip()
        detail = f"human turn has no {IMAGE_TOKEN} token"
    return rec.to_json(), _row("image_token_mismatch", rec.id, rel, detail)


Builder = Callable[[_Ctx, int, str, str], tuple[str, dict]]
_BUILDERS: dict[str, Builder] = {
    "exact_duplicate": exact_duplicate,
    "near_duplicate": near_duplicate,
    **dict.fromkeys(("truncated", "zero_byte", "not_an_image", "decompression_bomb"), broken_file),
    **dict.fromkeys(("blank", "tiny"), bad_pixels),
    **dict.fromkeys(("missing_image", "malformed_json"), bad_record),
    "path_escape": path_escape,
    "image_token_mismatch": image_token_mismatch,
}


def inject_defects(
    out: Path, originals: list[Record], seed: int, size: int, rate: float
) -> Injected:
    """Write the defective files, return their raw lines, and write `out/defects.jsonl`.

    `originals` are the n clean records (already on disk); ids continue after them.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    ctx = _Ctx(Path(out), originals, seed, size, rng)
    injected = Injected()
    for j, (kind, variant) in enumerate(plan_defects(len(originals), rate, rng)):
        line, row = _BUILDERS[kind](ctx, len(originals) + j, kind, variant)
        injected.lines.append(line)
        injected.rows.append(row)
    write_jsonl(Path(out) / "defects.jsonl", injected.rows)
    return injected
