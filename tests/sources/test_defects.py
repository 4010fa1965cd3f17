"""Injected defects: every kind present, recorded, and really what the ground truth says."""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from vit.records import IMAGE_TOKEN, UnsafePathError, resolve_image
from vit.sources.defects import CAUGHT_BY, NEAR_TRANSFORMS, VARIANTS, bomb_png
from vit.sources.scenes import generate_scenes

N, SIZE, RATE = 150, 64, 0.1


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("defects")
    summary = generate_scenes(out, N, seed=11, size=SIZE, defect_rate=RATE)
    lines = (out / "scenes.jsonl").read_text().splitlines()
    records, bad = {}, []
    for line in lines:
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            bad.append(line)
            continue
        records[d["id"]] = d
    rows = [json.loads(x) for x in (out / "defects.jsonl").read_text().splitlines()]
    return {
        "out": out,
        "summary": summary,
        "lines": lines,
        "records": records,
        "bad": bad,
        "rows": rows,
    }


def by_kind(run: dict, kind: str) -> list[dict]:
    rows = [r for r in run["rows"] if r["kind"] == kind]
    assert rows, f"no {kind} injected"
    return rows


def pixels(path: Path, size: int | None = None) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("L")
        if size:
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32)


def normalized(path: Path) -> np.ndarray:
    a = pixels(path, 32).ravel()
    return (a - a.mean()) / (a.std() + 1e-6)


def test_every_kind_recorded_with_its_stage(run: dict) -> None:
    rows = run["rows"]
    assert len(rows) == max(len(VARIANTS), round(RATE * N)) == run["summary"]["defects"]
    assert set(Counter(r["kind"] for r in rows)) == set(CAUGHT_BY)
    for r in rows:
        assert set(r) == {"kind", "id", "file", "of", "detail", "caught_by"}
        assert r["caught_by"] == CAUGHT_BY[r["kind"]] and r["detail"]
        assert (r["of"] is not None) == r["kind"].endswith("duplicate")
    details = " ".join(r["detail"] for r in by_kind(run, "near_duplicate"))
    assert all(t in details for t in NEAR_TRANSFORMS)


def test_defects_sit_beside_clean_records_shuffled(run: dict) -> None:
    ids = [r["id"] for r in run["rows"]]
    assert len(set(ids)) == len(ids)
    assert {f"scene-{i:06d}" for i in range(N)} <= set(run["records"])
    assert all(int(i.split("-")[1]) >= N for i in ids)
    assert len(run["lines"]) == N + len(ids)
    # Defect lines are interleaved with the clean ones, not appended at the end.
    defect_ids = set(ids)
    where = [
        i
        for i, x in enumerate(run["lines"])
        if not x.endswith("}") or json.loads(x)["id"] in defect_ids
    ]
    assert len(where) == len(ids) and min(where) < N // 2 and max(where) > N // 2


def test_duplicates(run: dict) -> None:
    out, recs = run["out"], run["records"]
    for r in by_kind(run, "exact_duplicate"):
        orig = recs[r["of"]]
        assert r["file"] != orig["image"] and recs[r["id"]]["image"] == r["file"]
        assert np.array_equal(pixels(out / r["file"]), pixels(out / orig["image"]))
        assert recs[r["id"]]["annotations"] == orig["annotations"]
        assert recs[r["id"]]["captions"] == orig["captions"]
    # Similar: after a 32 x 32 resize and normalizing brightness, the original is the
    # nearest of all clean scenes (a brightness shift moves every pixel, so raw MAD won't do).
    clean = np.stack([normalized(out / recs[f"scene-{i:06d}"]["image"]) for i in range(N)])
    for r in by_kind(run, "near_duplicate"):
        orig, dup = out / recs[r["of"]]["image"], out / r["file"]
        assert dup.read_bytes() != orig.read_bytes()
        dist = np.abs(clean - normalized(dup)).mean(axis=1)
        assert int(dist.argmin()) == int(r["of"].split("-")[1]), r
        with Image.open(dup) as im:
            assert im.size == (recs[r["id"]]["width"], recs[r["id"]]["height"])
            assert (im.format == "JPEG") == r["detail"].startswith("jpeg")
            assert im.size != (SIZE, SIZE) or not np.array_equal(pixels(orig), pixels(dup))


def test_broken_files_fail_to_decode(run: dict) -> None:
    out = run["out"]
    for r in by_kind(run, "zero_byte"):
        assert (out / r["file"]).stat().st_size == 0
    for r in by_kind(run, "truncated"):
        with pytest.raises(OSError), Image.open(out / r["file"]) as im:
            im.load()
    for r in by_kind(run, "not_an_image"):
        assert r["file"].endswith(".png")
        (out / r["file"]).read_bytes().decode("utf-8")
        with pytest.raises(UnidentifiedImageError):
            Image.open(out / r["file"])
    for r in by_kind(run, "decompression_bomb"):
        data = (out / r["file"]).read_bytes()
        assert len(data) < 10_000
        with pytest.raises(Image.DecompressionBombError):
            Image.open(out / r["file"])
        assert struct.unpack(">II", data[16:24]) == (40_000, 40_000)


def test_bomb_png_is_well_formed() -> None:
    data, pos, tags = bomb_png(), 8, []
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        tags.append(tag)
        pos += 12 + n
    assert tags == [b"IHDR", b"IDAT", b"IEND"]
    # Below PIL's bomb limit the same construction opens and reports the claimed size.
    import io

    with Image.open(io.BytesIO(bomb_png(300, 200, rows=4))) as im:
        assert im.size == (300, 200)


def test_blank_and_tiny_decode_but_are_useless(run: dict) -> None:
    out, recs = run["out"], run["records"]
    for r in by_kind(run, "blank"):
        with Image.open(out / r["file"]) as im:
            im.load()
            assert all(lo == hi for lo, hi in im.getextrema())
    for r in by_kind(run, "tiny"):
        with Image.open(out / r["file"]) as im:
            im.load()
            assert max(im.size) < 16 and im.size == (
                recs[r["id"]]["width"],
                recs[r["id"]]["height"],
            )


def test_broken_records(run: dict) -> None:
    out, recs = run["out"], run["records"]
    for r in by_kind(run, "missing_image"):
        assert recs[r["id"]]["image"] == r["file"] and not (out / r["file"]).exists()
    malformed = by_kind(run, "malformed_json")
    assert len(run["bad"]) == len(malformed)
    assert all(m["id"] not in recs for m in malformed)
    escapes = {recs[r["id"]]["image"] for r in by_kind(run, "path_escape")}
    assert {"../../etc/passwd", "/etc/passwd"} <= escapes
    for path in escapes:
        with pytest.raises(UnsafePathError):
            resolve_image(out, path)
    tokens = set()
    for r in by_kind(run, "image_token_mismatch"):
        human = recs[r["id"]]["conversations"][0]
        assert human["from"] == "human" and (out / r["file"]).exists()
        tokens.add(human["value"].count(IMAGE_TOKEN))
    assert tokens == {0, 2}


def test_small_runs_and_no_defects(tmp_path: Path) -> None:
    s = generate_scenes(tmp_path / "small", 20, seed=1, size=32, defect_rate=0.1)
    assert s["defects"] == 2 and s["lines"] == 22
    s = generate_scenes(tmp_path / "none", 20, seed=1, size=32, defect_rate=0)
    assert s["defects"] == 0 and (tmp_path / "none" / "defects.jsonl").read_text() == ""
