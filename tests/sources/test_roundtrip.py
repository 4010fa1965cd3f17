"""ingest(export(x)) == x for every export format, and exports load the way trainers load them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from tests.sources._fixtures import png, sample_records, under_images
from vit.records import IMAGE_TOKEN, Record, read_jsonl, write_dataset, write_jsonl
from vit.sources import read_source, write_export
from vit.sources.hf import read_hf, write_hf
from vit.sources.llava import read_llava, write_llava
from vit.sources.messages import read_messages, write_messages
from vit.sources.vitflow_jsonl import read_vitflow


@pytest.fixture
def recs(tmp_path: Path) -> list[Record]:
    return sample_records(tmp_path / "src")


def read_all(source) -> list[Record]:
    records = list(source.records)
    assert source.rejects == []
    return records


@pytest.mark.parametrize("fmt", ["llava", "messages"])
def test_json_exports_round_trip(tmp_path: Path, recs: list[Record], fmt: str) -> None:
    out = tmp_path / "out"
    main = write_export(fmt, recs, tmp_path / "src", out)
    source = read_source(fmt, main)
    assert source.image_root == out
    assert read_all(source) == under_images(recs)
    assert list(read_jsonl(out / "export_rejects.jsonl")) == []
    for r in recs:
        if r.image:
            a, b = tmp_path / "src" / r.image, out / "images" / r.image
            assert a.read_bytes() == b.read_bytes()
            assert os.stat(a).st_ino == os.stat(b).st_ino  # hardlinked, not copied


def test_llamafactory_style_round_trips(tmp_path: Path, recs: list[Record]) -> None:
    out = tmp_path / "out"
    path = write_messages(recs, tmp_path / "src", out, style="llamafactory")
    rows = list(read_jsonl(path))
    assert rows[0]["messages"][0] == {"role": "user", "content": "<image>\nWhat shape is it?"}
    assert rows[1]["messages"][0] == {"role": "system", "content": "You answer in one word."}
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["vitflow"]["columns"] == {"messages": "messages", "images": "images"}
    assert read_all(read_messages(path)) == under_images(recs)


def test_hf_round_trip_embeds_and_materializes(tmp_path: Path, recs: list[Record]) -> None:
    import datasets

    out = write_hf(recs, tmp_path / "src", tmp_path / "hf")
    ds = datasets.load_from_disk(str(out))
    assert len(ds) == len(recs)
    assert {"id", "images", "messages"} <= set(ds.column_names)
    first = ds[0]
    assert isinstance(first["images"][0], Image.Image) and first["images"][0].size == (8, 6)
    assert first["messages"][0]["content"][0]["type"] == "image"
    assert ds[2]["images"] == []  # the text-only record
    back = read_hf(out, image_root=tmp_path / "materialized")
    assert read_all(back) == recs
    for r in recs:
        if r.image:
            src, dst = tmp_path / "src" / r.image, tmp_path / "materialized" / r.image
            assert src.read_bytes() == dst.read_bytes()


def test_hf_default_image_root_is_a_sibling(tmp_path: Path, recs: list[Record]) -> None:
    out = write_hf(recs, tmp_path / "src", tmp_path / "hf")
    back = read_hf(out)
    assert back.image_root == tmp_path / "hf.images"
    assert read_all(back) == recs
    assert (tmp_path / "hf.images" / "sub" / "b.png").is_file()
    assert not list(out.glob("**/*.png"))  # nothing written into the source
    with pytest.raises(ValueError, match="inside the source"):
        read_hf(out, image_root=out / "imgs")


def test_vitflow_jsonl_and_dataset_round_trip(tmp_path: Path, recs: list[Record]) -> None:
    jsonl = tmp_path / "src" / "scenes.jsonl"
    write_jsonl(jsonl, [r.to_dict() for r in recs])
    source = read_vitflow(jsonl)
    assert source.image_root == tmp_path / "src"
    assert read_all(source) == recs
    ds = write_dataset(tmp_path / "ds", recs, image_root=tmp_path / "src")
    source = read_vitflow(ds.path)
    assert source.image_root.resolve() == (tmp_path / "src").resolve()
    assert read_all(source) == recs


def test_llava_export_loads_like_llava_does(tmp_path: Path, recs: list[Record]) -> None:
    """Mirror LazySupervisedDataset: `'image' in item`, join with --image_folder, and
    preprocess: first turn from human, roles human/gpt alternating, <image> in a human turn."""
    out = tmp_path / "out"
    items = json.loads(write_llava(recs, tmp_path / "src", out).read_text())
    for item in items:
        turns = item["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        if "image" in item:
            Image.open(os.path.join(out, item["image"])).convert("RGB")
            if turns:
                assert IMAGE_TOKEN in turns[0]["value"]
    assert "image" not in items[2]  # text-only: no key at all, not null


def test_export_adds_missing_placeholder(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    rec = Record("x", image="a.png", conversations=[{"from": "human", "value": "Q?"}])
    items = json.loads(write_llava([rec], tmp_path, tmp_path / "out").read_text())
    assert items[0]["conversations"][0]["value"] == "<image>\nQ?"


def test_export_skips_missing_and_unsafe_images(tmp_path: Path) -> None:
    png(tmp_path / "src" / "ok.png")
    recs = [
        Record("ok", image="ok.png"),
        Record("gone", image="missing.png"),
        Record("evil", image="../../etc/passwd"),
        Record("abs", image="/etc/passwd"),
    ]
    for fmt in ("llava", "messages", "hf"):
        out = tmp_path / fmt
        write_export(fmt, recs, tmp_path / "src", out)
        skipped = list(read_jsonl(out / "export_rejects.jsonl"))
        assert [r["id"] for r in skipped] == ["gone", "evil", "abs"]
        assert all(r["stage"] == "export" for r in skipped)
        assert [r.id for r in read_source(fmt, _main(fmt, out), tmp_path / "m").records] == ["ok"]
    assert not (tmp_path / "llava" / "etc").exists()


def _main(fmt: str, out: Path) -> Path:
    return {"llava": out / "data.json", "messages": out / "data.jsonl", "hf": out}[fmt]


def test_export_twice_is_stable(tmp_path: Path, recs: list[Record]) -> None:
    for _ in range(2):
        main = write_llava(recs, tmp_path / "src", tmp_path / "out")
    assert read_all(read_llava(main)) == under_images(recs)
