"""Synthetic scenes: determinism, long-tailed difficulty, records, and factual captions."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vit.records import IMAGE_TOKEN, Record
from vit.sources.scenes import COLORS, SHAPES, generate_scenes

N, SIZE = 120, 64
NUM = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
SIZES = ("small", "large")
MODS = "|".join((*SIZES, *COLORS))
NOUNS = "|".join((*SHAPES, "shape", "object"))
COUNT_RE = re.compile(rf"\b({'|'.join(NUM)})\s+((?:(?:{MODS})\s+)*)({NOUNS})s?\b", re.I)
SINGLE_RE = re.compile(rf"\b(an?)\s+((?:(?:{MODS})\s+)*)({'|'.join(SHAPES)})\b", re.I)
COLOR_SHAPE = rf"an? ({'|'.join(COLORS)}) ({'|'.join(SHAPES)})"
REL_RE = re.compile(
    rf"^{COLOR_SHAPE} is (to the left of|to the right of|above|below) {COLOR_SHAPE}\.$", re.I
)
LOC_RE = re.compile(
    rf"^an? (small|large) ({'|'.join(COLORS)}) ({'|'.join(SHAPES)}) (?:is|sits|appears) "
    r"in the ([\w-]+) (?:part|area) of the image\.$",
    re.I,
)


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    generate_scenes(out, N, seed=7, size=SIZE, defect_rate=0.1)
    return out


@pytest.fixture(scope="module")
def clean(run: Path) -> list[Record]:
    recs = []
    for line in (run / "scenes.jsonl").read_text().splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if int(d["id"].split("-")[1]) < N:
            recs.append(Record.from_dict(d))
    return sorted(recs, key=lambda r: r.id)


def test_same_seed_same_bytes_other_seed_differs(run: Path, tmp_path: Path) -> None:
    generate_scenes(tmp_path / "a", N, seed=7, size=SIZE, defect_rate=0.1)
    generate_scenes(tmp_path / "b", N, seed=8, size=SIZE, defect_rate=0.1)
    first, again, other = tree_hashes(run), tree_hashes(tmp_path / "a"), tree_hashes(tmp_path / "b")
    assert first == again
    assert len(first) > N
    assert first["scenes.jsonl"] != other["scenes.jsonl"]
    # Clean scenes all differ (a defect file such as the zero-byte one may coincide).
    scenes = [f"images/scene-{i:06d}.png" for i in range(N)]
    assert all(first[k] != other[k] for k in scenes)


def test_clean_records_are_well_formed(run: Path, clean: list[Record]) -> None:
    assert [r.id for r in clean] == [f"scene-{i:06d}" for i in range(N)]
    for r in clean:
        assert r.source == "scenes" and r.split == "" and (r.width, r.height) == (SIZE, SIZE)
        assert r.image == f"images/{r.id}.png"
        with Image.open(run / r.image) as im:
            assert im.size == (SIZE, SIZE) and im.format == "PNG" and not im.info.get("text")
        assert r.metadata["n_objects"] == len(r.annotations) >= 1
        assert r.metadata["seed"] == 7
        k = len(r.annotations)
        assert r.metadata["difficulty"] == ("easy" if k <= 3 else "medium" if k <= 6 else "crowded")
        human, gpt = r.conversations
        assert human["from"] == "human" and human["value"].startswith(IMAGE_TOKEN + "\n")
        assert human["value"].count(IMAGE_TOKEN) == 1
        assert gpt["from"] == "gpt" and gpt["value"] in r.captions
        assert len(r.captions) >= 5 and len(set(r.captions)) == len(r.captions)
        for a in r.annotations:
            assert a.label == a.shape in SHAPES and a.color in COLORS and a.size in SIZES
            x1, y1, x2, y2 = a.box
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1


def test_boxes_match_pixels(run: Path, clean: list[Record]) -> None:
    """The last-drawn object is never occluded: its exact color's bbox is its box."""
    for r in clean[:40]:
        arr = np.asarray(Image.open(run / r.image).convert("RGB"))
        for i, a in enumerate(r.annotations):
            x1, y1, x2, y2 = (round(v * SIZE) for v in a.box)
            lo = (max(0, y1 - 1), max(0, x1 - 1))
            win = arr[lo[0] : y2 + 1, lo[1] : x2 + 1]
            ys, xs = np.nonzero((win == COLORS[a.color]).all(axis=-1))
            assert len(xs) > 0, (r.id, a)
            seen = (lo[1] + xs.min(), lo[0] + ys.min(), lo[1] + xs.max() + 1, lo[0] + ys.max() + 1)
            assert x1 <= seen[0] and y1 <= seen[1] and seen[2] <= x2 and seen[3] <= y2
            if i == len(r.annotations) - 1:
                assert seen == (x1, y1, x2, y2), (r.id, a)


def test_object_counts_are_long_tailed(tmp_path: Path) -> None:
    generate_scenes(tmp_path, 300, seed=3, size=SIZE, defect_rate=0)
    lines = (tmp_path / "scenes.jsonl").read_text().splitlines()
    counts = [json.loads(x)["metadata"]["n_objects"] for x in lines]
    assert len(counts) == 300
    easy = sum(1 <= k <= 3 for k in counts)
    crowded = sum(k >= 7 for k in counts)
    assert easy > 0.55 * 300
    assert 15 <= crowded < easy / 2
    assert max(counts) >= 9 and min(counts) == 1
    assert (tmp_path / "defects.jsonl").read_text() == ""


def _matching(anns, mods: str, noun: str) -> list:
    words = mods.lower().split()
    noun = noun.lower()
    return [
        a
        for a in anns
        if all(w in (a.size, a.color) for w in words) and (noun not in SHAPES or a.shape == noun)
    ]


def _region(box) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    return "-".join(p for p in (row, col) if p) or "center"


def _related(a, rel: str, b) -> bool:
    return {
        "to the left of": a.box[2] <= b.box[0],
        "to the right of": b.box[2] <= a.box[0],
        "above": a.box[3] <= b.box[1],
        "below": b.box[3] <= a.box[1],
    }[rel]


def check_caption(cap: str, anns) -> None:
    for num, mods, noun in COUNT_RE.findall(cap):
        k = NUM.index(num.lower()) + 1
        assert len(_matching(anns, mods, noun)) == k, cap
    for _, mods, noun in SINGLE_RE.findall(cap):
        assert _matching(anns, mods, noun), cap
    for color in COLORS:
        if re.search(rf"\b{color}\b", cap, re.I):
            assert any(a.color == color for a in anns), cap
    if m := REL_RE.match(cap):
        c1, s1, rel, c2, s2 = (g.lower() for g in m.groups())
        pairs = [(a, b) for a in anns for b in anns if a is not b]
        assert any(
            (a.color, a.shape, b.color, b.shape) == (c1, s1, c2, s2) and _related(a, rel, b)
            for a, b in pairs
        ), cap
    if m := LOC_RE.match(cap):
        size, color, shape, where = (g.lower() for g in m.groups())
        assert any(
            (a.size, a.color, a.shape) == (size, color, shape) and _region(a.box) == where
            for a in anns
        ), cap


def test_captions_are_factual(clean: list[Record]) -> None:
    kinds = {"count": 0, "relation": 0, "location": 0}
    for r in clean:
        for cap in r.captions:
            check_caption(cap, r.annotations)
            kinds["count"] += bool(COUNT_RE.search(cap))
            kinds["relation"] += bool(REL_RE.match(cap))
            kinds["location"] += bool(LOC_RE.match(cap))
        totals = [
            NUM.index(num.lower()) + 1
            for cap in r.captions
            for num, mods, noun in COUNT_RE.findall(cap)
            if not mods and noun.lower() in ("shape", "object")
        ]
        assert totals == [len(r.annotations)], r.captions
    # Each family is actually exercised, so the checks above are not vacuous.
    assert kinds["count"] >= 4 * N and kinds["relation"] >= N // 3 and kinds["location"] == N


def test_checker_catches_a_wrong_caption(clean: list[Record]) -> None:
    r = next(r for r in clean if len(r.annotations) == 2)
    with pytest.raises(AssertionError):
        check_caption("There are three shapes in the image.", r.annotations)
    absent = next(c for c in COLORS if all(a.color != c for a in r.annotations))
    with pytest.raises(AssertionError):
        check_caption(f"There is one {absent} shape.", r.annotations)
