import json
import os

import pytest

from vit.records import (
    Annotation,
    Dataset,
    Record,
    RecordError,
    UnsafePathError,
    read_shard,
    resolve_image,
    shard_is_complete,
    write_dataset,
    write_shard,
)


def make(i: int) -> Record:
    return Record(
        id=f"r{i}",
        image=f"images/{i}.png",
        width=64,
        height=48,
        source="test",
        annotations=[Annotation("circle", [0.1, 0.2, 0.3, 0.4], "circle", "red", "small")],
        captions=["a red circle", "one circle"],
        conversations=[
            {"from": "human", "value": "<image>\nWhat?"},
            {"from": "gpt", "value": "A circle."},
        ],
        metadata={"k": i},
    )


def test_record_round_trips_through_json():
    r = make(1)
    assert Record.from_dict(json.loads(r.to_json())) == r


@pytest.mark.parametrize(
    "bad, reason",
    [
        ([], "JSON object"),
        ({"image": "x.png"}, "no id"),
        ({"id": "a", "conversations": "hi"}, "record a: conversations"),
        ({"id": "a", "annotations": [{"label": "x", "box": [0.5, 0, 0.2, 1]}]}, "record a: box"),
        ({"id": "a", "width": "wide"}, "record a:"),
    ],
)
def test_bad_records_name_the_record_and_reason(bad, reason):
    with pytest.raises(RecordError, match=reason):
        Record.from_dict(bad)


def test_resolve_image_refuses_escapes(tmp_path):
    (tmp_path / "ok.png").write_bytes(b"x")
    assert resolve_image(tmp_path, "ok.png") == (tmp_path / "ok.png").resolve()
    for bad in ["../../etc/passwd", "/etc/passwd", "a/../../x.png", "", "C:\\x.png"]:
        with pytest.raises(UnsafePathError):
            resolve_image(tmp_path, bad)
    os.symlink("/etc/passwd", tmp_path / "link.png")
    with pytest.raises(UnsafePathError, match="escapes"):
        resolve_image(tmp_path, "link.png")


def test_shard_marker_detects_torn_write(tmp_path):
    p = tmp_path / "records-00000.jsonl"
    assert write_shard(p, [make(i) for i in range(3)]) == 3
    assert shard_is_complete(p)
    assert [r.id for r in read_shard(p)] == ["r0", "r1", "r2"]
    # A killed writer that appended half a line (or a shard without marker) never reads as whole.
    with open(p, "a") as f:
        f.write('{"id": "r3", "ima')
    assert not shard_is_complete(p)
    with pytest.raises(RecordError, match="incomplete"):
        list(read_shard(p))
    (tmp_path / "records-00000.jsonl.done").unlink()
    assert not shard_is_complete(p)


def test_write_dataset_shards_rejects_and_manifest(tmp_path):
    out = tmp_path / "ds"
    rejects = [{"id": "bad", "stage": "read", "reason": "malformed"}]
    ds = write_dataset(out, (make(i) for i in range(25)), tmp_path / "imgs", rejects, shard_size=10)
    assert len(ds.shards) == 3 and ds.count == 25
    again = Dataset.open(out)
    assert [r.id for r in again] == [f"r{i}" for i in range(25)]
    assert again.image_root.resolve() == (tmp_path / "imgs").resolve()
    assert again.rejects() == rejects
    # A smaller rerun leaves no stale shard behind.
    write_dataset(out, [make(0)], tmp_path / "imgs")
    assert sorted(p.name for p in out.glob("records-*.jsonl")) == ["records-00000.jsonl"]


def test_dataset_without_manifest_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a vitflow dataset"):
        Dataset.open(tmp_path)
