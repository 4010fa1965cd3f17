"""The embedded default data: seeded synthetic scenes with exact annotations and captions.

    vit generate scenes --n 1000 --seed 0 --out data/raw/scenes

Each scene holds 1 to 10 shapes (circle, square, triangle, star, diamond) in eight colors and
two sizes, on a plain, gradient or lightly noisy background. Difficulty is long-tailed: about
two thirds of the scenes hold 1-3 objects (easy), a tail is crowded (7-10). Output:

    OUT/images/scene-000000.png   one PNG per scene (byte-identical for a given seed)
    OUT/scenes.jsonl              raw records, one `Record.to_dict()` JSON object a line
    OUT/defects.jsonl             ground truth of the injected defects (see `defects`)

`scenes.jsonl` holds the n clean scenes `scene-000000 .. scene-{n-1}` plus, when
`defect_rate > 0`, extra defective records/lines with ids from `scene-{n}` on; all lines are
shuffled by the seed so position tells nothing. It is deliberately a raw file (it may hold
malformed lines): the ingest step reads it with the `vitflow` reader and validates it.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vit.records import Annotation, Record, atomic_write_text
from vit.sources.captions import caption_conversation, scene_captions

SOURCE = "scenes"
PNG_LEVEL = 6  # fixed, so bytes depend on pixels only
SHAPES = ("circle", "square", "triangle", "star", "diamond")
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 70, 220),
    "yellow": (245, 220, 30),
    "purple": (140, 50, 170),
    "orange": (245, 140, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
BACKGROUNDS = {
    "light gray": (200, 200, 200),
    "cream": (235, 228, 210),
    "pale blue": (205, 218, 232),
    "dark gray": (70, 70, 75),
    "slate": (95, 105, 120),
}
MIN_CONTRAST = 110.0  # RGB distance; leaves room for the +-12 gradient and the noise
# P(k objects) for k = 1..10: most scenes easy, a thin crowded tail.
COUNT_WEIGHTS = np.array([0.30, 0.22, 0.15, 0.08, 0.06, 0.05, 0.04, 0.04, 0.03, 0.03])
SIZE_FRACTION = {"small": (0.12, 0.17), "large": (0.24, 0.33)}
MAX_OVERLAP = 0.1  # of the smaller box: every object stays at least ~90% visible
SAME_COLOR_GAP = 2  # pixels between objects of one color, so they never merge


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The RNG of scene `index`: independent of n, so scene i is the same in any run."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))


def scene_id(index: int) -> str:
    return f"scene-{index:06d}"


def encode_png(img: Image.Image) -> bytes:
    """PNG bytes with no metadata chunks and a fixed compression level (deterministic)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_LEVEL, optimize=False)
    return buf.getvalue()


def difficulty(n_objects: int) -> str:
    return "easy" if n_objects <= 3 else "medium" if n_objects <= 6 else "crowded"


def background(rng: np.random.Generator, size: int) -> tuple[Image.Image, str, str, tuple]:
    """A plain, gradient or lightly noisy background; returns (image, name, texture, rgb)."""
    name = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    base = np.array(BACKGROUNDS[name], dtype=np.float32)
    texture = ("plain", "gradient", "noise")[int(rng.choice(3, p=[0.4, 0.3, 0.3]))]
    arr = np.broadcast_to(base, (size, size, 3)).copy()
    if texture == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.linspace(-1, 1, size, dtype=np.float32)
        g = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
        arr += 12 * g[..., None]
    elif texture == "noise":
        arr += rng.normal(0, 4, size=(size, size, 1)).astype(np.float32)
    img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
    return img, name, texture, BACKGROUNDS[name]


def contrasting_colors(bg: tuple[int, int, int]) -> list[str]:
    return [c for c, rgb in COLORS.items() if np.linalg.norm(np.subtract(rgb, bg)) >= MIN_CONTRAST]


def shape_mask(shape: str, s: int) -> Image.Image:
    """An s x s mask of the shape, drawn without antialiasing so its bbox is exact."""
    m = Image.new("L", (s, s), 0)
    d = ImageDraw.Draw(m)
    c, r = (s - 1) / 2, (s - 1) / 2
    if shape == "circle":
        d.ellipse([0, 0, s - 1, s - 1], fill=255)
    elif shape == "square":
        d.rectangle([0, 0, s - 1, s - 1], fill=255)
    elif shape == "triangle":
        d.polygon([(c, 0), (s - 1, s - 1), (0, s - 1)], fill=255)
    elif shape == "diamond":
        d.polygon([(c, 0), (s - 1, c), (c, s - 1), (0, c)], fill=255)
    else:  # star: 5 points, inner radius 0.45 of the outer
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
        d.polygon(
            list(zip(c + radii * np.cos(angles), c + radii * np.sin(angles), strict=True)), fill=255
        )
    return m


Cell = tuple[int, int, int, int]


def _overlap_ok(box: Cell, color: str, placed: list[tuple[Cell, str]]) -> bool:
    """Boxes may overlap a little, but two same-colored objects must not even touch:
    merged into one blob they would make every count wrong."""
    x0, y0, x1, y1 = box
    for (px0, py0, px1, py1), pcolor in placed:
        gap = SAME_COLOR_GAP if pcolor == color else 0
        iw = min(x1, px1) - max(x0, px0) + gap
        ih = min(y1, py1) - max(y0, py0) + gap
        smaller = min((x1 - x0) * (y1 - y0), (px1 - px0) * (py1 - py0))
        allowed = 0 if pcolor == color else MAX_OVERLAP * smaller
        if iw > 0 and ih > 0 and iw * ih > allowed:
            return False
    return True


def place(
    rng: np.random.Generator, size: int, want: str, color: str, placed: list[tuple[Cell, str]]
) -> tuple[Cell, str] | None:
    """A free s x s cell (x0, y0, x1, y1) and its size name; downsizes, then gives up."""
    for size_name in (want, "small") if want == "large" else ("small",):
        lo, hi = SIZE_FRACTION[size_name]
        for _ in range(60):
            s = max(4, int(round(size * rng.uniform(lo, hi))))
            x0, y0 = (int(v) for v in rng.integers(0, size - s + 1, size=2))
            cell = (x0, y0, x0 + s, y0 + s)
            if _overlap_ok(cell, color, placed):
                return cell, size_name
    return None


def render_scene(rng: np.random.Generator, size: int) -> tuple[Image.Image, list[Annotation], dict]:
    """Draw one scene; returns the image, one annotation per object, and scene metadata."""
    k = int(rng.choice(len(COUNT_WEIGHTS), p=COUNT_WEIGHTS)) + 1
    p_large = 0.5 if k <= 3 else 0.3 if k <= 6 else 0.15
    img, bg_name, texture, bg_rgb = background(rng, size)
    palette = contrasting_colors(bg_rgb)
    placed: list[tuple[Cell, str]] = []
    anns: list[Annotation] = []
    for _ in range(k):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        color = palette[int(rng.integers(len(palette)))]
        want = "large" if rng.random() < p_large else "small"
        spot = place(rng, size, want, color, placed)
        if spot is None:  # crowded beyond what fits: the scene just holds fewer objects
            continue
        (x0, y0, x1, y1), size_name = spot
        mask = shape_mask(shape, x1 - x0)
        img.paste(COLORS[color], (x0, y0, x1, y1), mask)
        bx0, by0, bx1, by1 = mask.getbbox()
        box = [round(v / size, 6) for v in (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)]
        anns.append(Annotation(label=shape, box=box, shape=shape, color=color, size=size_name))
        placed.append(((x0, y0, x1, y1), color))
    meta = {"background": {"color": bg_name, "texture": texture}}
    return img, anns, meta


def make_scene(seed: int, index: int, size: int) -> tuple[Record, Image.Image]:
    """Scene `index` of the run with this seed: its record and its image (not yet written)."""
    rng = scene_rng(seed, index)
    img, anns, meta = render_scene(rng, size)
    captions = scene_captions(anns, rng)
    rid = scene_id(index)
    record = Record(
        id=rid,
        image=f"images/{rid}.png",
        width=size,
        height=size,
        source=SOURCE,
        annotations=anns,
        captions=captions,
        conversations=caption_conversation(captions, rng),
        metadata={
            "n_objects": len(anns),
            "difficulty": difficulty(len(anns)),
            "seed": seed,
            **meta,
        },
    )
    return record, img


def _clear_old(images: Path) -> None:
    # A rerun with a smaller n must not leave images of the previous run behind.
    for old in images.glob("scene-*"):
        if old.suffix in (".png", ".jpg"):
            old.unlink()


def _steps(n: int, progress: bool):
    if not progress:
        return range(n)
    from rich.progress import track

    return track(range(n), description="generating scenes")


def generate_scenes(
    out: Path,
    n: int,
    seed: int = 0,
    size: int = 128,
    defect_rate: float = 0.1,
    progress: bool = False,
) -> dict[str, Any]:
    """Write n clean scenes (+ injected defects) under `out`; returns counts per kind.

    `vit generate scenes --n N --seed S --out DIR`. Same arguments, same bytes in every file.
    """
    from vit.sources.defects import inject_defects

    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    _clear_old(images)
    records: list[Record] = []
    for i in _steps(n, progress):
        record, img = make_scene(seed, i, size)
        (out / record.image).write_bytes(encode_png(img))
        records.append(record)
    lines = [r.to_json() for r in records]
    defects = inject_defects(out, records, seed=seed, size=size, rate=defect_rate)
    lines += defects.lines
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,))).permutation(
        len(lines)
    )
    atomic_write_text(out / "scenes.jsonl", "".join(lines[i] + "\n" for i in order))
    return {
        "out": str(out),
        "seed": seed,
        "size": size,
        "clean": n,
        "lines": len(lines),
        "difficulty": dict(sorted(Counter(r.metadata["difficulty"] for r in records).items())),
        "objects": sum(len(r.annotations) for r in records),
        "defects": len(defects.rows),
        "defect_kinds": dict(sorted(Counter(d["kind"] for d in defects.rows).items())),
    }
