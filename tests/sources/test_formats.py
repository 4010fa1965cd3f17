"""Each reader on real-shaped input and on bad input: bad rows become rejects, the rest flows."""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import pytest

from tests.sources._fixtures import png, write_lines
from vit.records import Record
from vit.sources import READERS, read_source
from vit.sources._common import MULTI_IMAGE
from vit.sources.coco import read_coco
from vit.sources.folder import read_folder
from vit.sources.hf import read_hf
from vit.sources.llava import read_llava
from vit.sources.messages import read_messages
from vit.sources.vitflow_jsonl import read_vitflow


def drain(source) -> tuple[dict[str, Record], list[dict]]:
    recs = {r.id: r for r in source.records}
    json.dumps(source.rejects)  # rejects must be writable as JSON lines
    return recs, source.rejects


def reasons(rejects: list[dict]) -> str:
    return " | ".join(r["reason"] for r in rejects)


# --- vitflow ---------------------------------------------------------------------------------


def test_vitflow_rejects_bad_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    src = write_lines(
        tmp_path / "scenes.jsonl",
        [
            Record("s1", image="s1.png").to_dict(),
            "{not json",
            {"image": "x.png"},
            {"id": "bad-box", "annotations": [{"label": "c", "box": [0.5, 0, 0.1, 1]}]},
            Record("s2").to_dict(),
        ],
    )
    source = read_vitflow(src)
    assert inspect.isgenerator(source.records) and source.rejects == []  # lazy
    recs, rejects = drain(source)
    assert list(recs) == ["s1", "s2"]
    assert [r["line"] for r in rejects] == [2, 3, 4]
    assert "malformed JSON" in rejects[0]["reason"]
    assert "no id" in rejects[1]["reason"]
    assert rejects[2]["id"] == "bad-box" and "normalized" in rejects[2]["reason"]


# --- LLaVA -----------------------------------------------------------------------------------


MIX665K_LIKE = [
    {
        "id": "000000033471",
        "image": "coco/train2017/000000033471.jpg",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
            {"from": "gpt", "value": "The bus in the image is white and red."},
        ],
    },
    {"id": 42, "image": "ocr_vqa/images/42.jpg", "conversations": [{"from": "human", "value": "x"}]},
    {"id": "text-only", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
    {"id": "roles", "model": "gpt-4", "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "user", "value": "<image>\nQ"},
        {"from": "assistant", "value": "A"},
    ], "image": "r.jpg"},
    {"id": "evil", "image": "../../etc/passwd", "conversations": []},
    {"image": "noid.jpg", "conversations": []},
    {"id": "notlist", "conversations": "human: hi"},
    {"id": "bot", "conversations": [{"from": "bot", "value": "hi"}]},
    {"id": "two", "image": ["a.jpg", "b.jpg"], "conversations": []},
    "not an object",
]  # fmt: skip


def test_llava_reads_mix665k_shapes_and_rejects_bad_items(tmp_path: Path) -> None:
    src = tmp_path / "mix.json"
    src.write_text(json.dumps(MIX665K_LIKE))
    source = read_llava(src)
    assert source.image_root == tmp_path
    recs, rejects = drain(source)
    assert list(recs) == ["000000033471", "42", "text-only", "roles", "evil"]
    assert recs["000000033471"].image == "coco/train2017/000000033471.jpg"
    assert recs["000000033471"].source == "mix.json"
    assert recs["text-only"].image is None
    roles = recs["roles"]
    assert [t["from"] for t in roles.conversations] == ["human", "gpt"]
    assert roles.metadata == {"system": "Be brief.", "extra": {"model": "gpt-4"}}
    # Kept as given: the contract validator refuses the escape with the whole record.
    assert recs["evil"].image == "../../etc/passwd"
    assert [r["index"] for r in rejects] == [5, 6, 7, 8, 9]
    assert [r["id"] for r in rejects] == [None, "notlist", "bot", "two", None]
    text = reasons(rejects)
    assert "no id" in text and "must be a list" in text and "unknown role 'bot'" in text
    assert MULTI_IMAGE in text
    assert rejects[1]["row"] == MIX665K_LIKE[6]  # the row is kept for fixing


def test_llava_jsonl_and_broken_json(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "d.jsonl", [MIX665K_LIKE[0], "{oops", MIX665K_LIKE[2]])
    recs, rejects = drain(read_llava(src, image_root=tmp_path / "imgs"))
    assert list(recs) == ["000000033471", "text-only"]
    assert rejects[0]["line"] == 2 and "malformed JSON" in rejects[0]["reason"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1}, ')
    recs, rejects = drain(read_llava(bad))
    assert recs == {} and "not valid JSON" in rejects[0]["reason"]


# --- messages --------------------------------------------------------------------------------


MESSAGE_ROWS = [
    {  # TRL
        "id": "trl",
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        ],
        "images": ["a.png"],
    },
    {  # LLaMA-Factory sharegpt
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "<image>Who is this?"},
            {"role": "assistant", "content": "A dog."},
        ],
        "images": ["b.png"],
    },
    {  # ShareGPT, image without placeholder
        "conversations": [
            {"from": "human", "value": "Describe."},
            {"from": "gpt", "value": "Red."},
        ],
        "image": "c.png",
    },
    "{broken",
    {
        "id": "multi",
        "messages": [{"role": "user", "content": "<image><image>"}],
        "images": ["a", "b"],
    },
    {"id": "role", "messages": [{"role": "narrator", "content": "x"}]},
    {"id": "part", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
    {"id": "none"},
]


def test_messages_reads_trl_llamafactory_sharegpt(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "chat.jsonl", MESSAGE_ROWS)
    recs, rejects = drain(read_messages(src))
    assert list(recs) == ["trl", "chat-2", "chat-3"]
    assert recs["trl"].image == "a.png"
    assert recs["trl"].conversations == [
        {"from": "human", "value": "<image>\nWhat?"},
        {"from": "gpt", "value": "A cat."},
    ]
    assert recs["chat-2"].conversations[0] == {"from": "human", "value": "<image>Who is this?"}
    assert recs["chat-2"].metadata == {"system": "Be kind."}
    assert recs["chat-3"].conversations[0]["value"] == "<image>\nDescribe."
    assert [r["line"] for r in rejects] == [4, 5, 6, 7, 8]
    multi = rejects[1]
    assert multi["reason"] == MULTI_IMAGE and multi["id"] == "multi"
    assert multi["row"] == MESSAGE_ROWS[4]
    text = reasons(rejects)
    assert "unknown role 'narrator'" in text and "unknown content part" in text
    assert "neither 'messages' nor 'conversations'" in text


def test_messages_inline_image_paths(tmp_path: Path) -> None:
    row = {"messages": [{"role": "user", "content": [{"type": "image", "image": "x/y.png"}]}]}
    recs, _ = drain(read_messages(write_lines(tmp_path / "q.jsonl", [row])))
    assert recs["q-1"].image == "x/y.png"


# --- COCO ------------------------------------------------------------------------------------


def coco_file(tmp_path: Path) -> Path:
    data = {
        "images": [
            {"id": 1, "file_name": "000001.jpg", "width": 200, "height": 100, "license": 3},
            {"id": 2, "file_name": "000002.jpg", "width": 50, "height": 50},
            {"id": 3, "file_name": "000003.jpg"},
            {"id": 4},
        ],
        "categories": [{"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "A dog on grass."},
            {"id": 11, "image_id": 1, "caption": "A brown dog."},
            {"id": 12, "image_id": 1, "bbox": [20, 10, 100, 50], "category_id": 18},
            {"id": 13, "image_id": 1, "bbox": [150, 50, 60, 60], "category_id": 18},
            {"id": 14, "image_id": 1, "bbox": [0, 0, 1, 1], "category_id": 99},
            {"id": 15, "image_id": 3, "bbox": [0, 0, 1, 1], "category_id": 18},
            {"id": 16, "image_id": 777, "caption": "orphan"},
        ],
    }
    path = tmp_path / "annotations" / "instances.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path


def test_coco_captions_and_boxes(tmp_path: Path) -> None:
    source = read_coco(coco_file(tmp_path))
    assert source.image_root == tmp_path / "annotations"
    recs, rejects = drain(source)
    assert list(recs) == ["1", "2", "3"]
    one = recs["1"]
    assert (one.image, one.width, one.height) == ("000001.jpg", 200, 100)
    assert one.captions == ["A dog on grass.", "A brown dog."]
    assert one.conversations == []
    assert [a.box for a in one.annotations] == [[0.1, 0.1, 0.6, 0.6], [0.75, 0.5, 1.0, 1.0]]
    assert {a.label for a in one.annotations} == {"dog"}
    assert one.metadata == {"extra": {"license": 3}}
    assert recs["2"].captions == [] and recs["3"].annotations == []
    by_id = {r["id"]: r["reason"] for r in rejects}
    assert "needs an id and a file_name" in by_id["4"]
    assert "unknown category_id 99" in by_id["14"]
    assert "no width/height" in by_id["15"]
    assert "missing image id 777" in by_id["16"]


# --- folder ----------------------------------------------------------------------------------


def test_folder_with_captions_csv(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    for rel in ("a.png", "a.jpg", "cats/b.jpeg", "cats/deep/c.webp", ".hidden.png"):
        png(root / rel)
    (root / "notes.txt").write_text("not an image")
    (root / ".git").mkdir()
    (root / ".git" / "x.png").write_bytes(b"")
    with open(root / "captions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "caption"])
        w.writerows([["a.png", "first"], ["a.png", "second"], ["cats/b.jpeg", "a cat"]])
        w.writerows([["gone.png", "orphan"], ["", "no file"]])
    source = read_folder(root)
    assert source.image_root == root
    recs, rejects = drain(source)
    assert list(recs) == ["a", "a__png", "cats__b", "cats__deep__c"]
    assert recs["a__png"].image == "a.png" and recs["a__png"].captions == ["first", "second"]
    assert recs["cats__b"].captions == ["a cat"] and recs["a"].captions == []
    assert recs["cats__deep__c"].image == "cats/deep/c.webp"
    text = reasons(rejects)
    assert "not an image file (.txt)" in text
    assert "caption for a file that is not in the folder" in text
    assert "caption row needs a file" in text


def test_folder_captions_jsonl_and_outer_root(tmp_path: Path) -> None:
    root = tmp_path / "data" / "pics"
    png(root / "x.png")
    write_lines(root / "metadata.jsonl", [{"file_name": "x.png", "text": ["one", "two"]}, "{"])
    recs, rejects = drain(read_folder(root, image_root=tmp_path / "data"))
    assert recs["x"].image == "pics/x.png" and recs["x"].captions == ["one", "two"]
    assert rejects[0]["line"] == 2
    with pytest.raises(ValueError, match="must contain"):
        read_folder(root, image_root=tmp_path / "elsewhere")


# --- Hugging Face datasets -------------------------------------------------------------------


def image_bytes(tmp_path: Path, name: str, color: str) -> bytes:
    return png(tmp_path / "raw" / name, color).read_bytes()


def test_hf_save_to_disk_with_messages_and_splits(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("int64"),
            "image": datasets.Image(),
            "messages": [
                {
                    "role": datasets.Value("string"),
                    "content": [
                        {"type": datasets.Value("string"), "text": datasets.Value("string")}
                    ],
                }
            ],
            "score": datasets.Value("float64"),
        }
    )
    ask = [{"type": "image", "text": None}, {"type": "text", "text": "What?"}]
    row = {"role": "user", "content": ask}
    train = datasets.Dataset.from_list(
        [
            {
                "id": 7,
                "image": {"bytes": image_bytes(tmp_path, "a.png", "red"), "path": None},
                "messages": [row],
                "score": 0.5,
            }
        ],
        features=features,
    )
    test = datasets.Dataset.from_list(
        [
            {
                "id": 8,
                "image": {"bytes": image_bytes(tmp_path, "b.png", "blue"), "path": None},
                "messages": [row],
                "score": 1.0,
            }
        ],
        features=features,
    )
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    recs, rejects = drain(read_hf(tmp_path / "dd", image_root=tmp_path / "imgs"))
    assert rejects == []
    assert [(r.id, r.split, r.image) for r in recs.values()] == [
        ("7", "train", "7.png"),
        ("8", "test", "8.png"),
    ]
    assert recs["7"].conversations == [{"from": "human", "value": "<image>\nWhat?"}]
    assert recs["7"].metadata == {"extra": {"score": 0.5}}
    assert (tmp_path / "imgs" / "7.png").read_bytes() == (tmp_path / "raw" / "a.png").read_bytes()


def test_hf_parquet_with_plain_bytes_and_conversations(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    convs = [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]
    table = pa.table(
        {
            "image": [image_bytes(tmp_path, "a.png", "red"), None, b"\xff\xd8junk"],
            "conversations": [convs, convs[1:], convs],
            "caption": ["red", None, "jpeg"],
        }
    )
    pq.write_table(table, tmp_path / "part.parquet")
    source = read_hf(tmp_path / "part.parquet")
    assert source.image_root == tmp_path / "part.parquet.images"
    recs, rejects = drain(source)
    assert rejects == []
    assert [(r.id, r.image, r.captions) for r in recs.values()] == [
        ("part-0", "part-0.png", ["red"]),
        ("part-1", None, []),
        ("part-2", "part-2.jpg", ["jpeg"]),  # named by signature; decoding is validate's job
    ]
    assert recs["part-0"].conversations == convs


def test_hf_rejects_multi_image_rows_without_bytes_in_the_reject(tmp_path: Path) -> None:
    import datasets

    img = {"bytes": image_bytes(tmp_path, "a.png", "red"), "path": None}
    ds = datasets.Dataset.from_list(
        [{"id": "one", "images": [img]}, {"id": "two", "images": [img, img]}],
        features=datasets.Features({"id": datasets.Value("string"), "images": [datasets.Image()]}),
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    recs, rejects = drain(read_hf(tmp_path / "ds", image_root=tmp_path / "imgs"))
    assert list(recs) == ["one"]
    assert rejects[0]["id"] == "two" and rejects[0]["reason"] == MULTI_IMAGE
    assert rejects[0]["row"]["images"][0]["bytes"].endswith("bytes>")


# --- all readers -----------------------------------------------------------------------------


def test_every_registered_reader_is_importable_and_lazy(tmp_path: Path) -> None:
    png(tmp_path / "pics" / "a.png")
    inputs = {
        "vitflow": write_lines(tmp_path / "v.jsonl", [Record("a").to_dict()]),
        "llava": write_lines(tmp_path / "l.jsonl", [MIX665K_LIKE[0]]),
        "messages": write_lines(tmp_path / "m.jsonl", [MESSAGE_ROWS[0]]),
        "coco": coco_file(tmp_path),
        "folder": tmp_path / "pics",
    }
    for fmt, src in inputs.items():
        source = read_source(fmt, src)
        assert inspect.isgenerator(source.records), fmt
        assert len(list(source.records)) >= 1, fmt
    assert set(inputs) | {"hf"} == set(READERS)
