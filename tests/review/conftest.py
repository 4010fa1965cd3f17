"""A private mongod for the review tests, and a small pipeline output to sync.

The database lives in a temporary folder and its mongod stops when the session ends, so
the suite never touches ~/.fiftyone or a FiftyOne database the user has running.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vit.records import Annotation, Record, reject, write_dataset, write_jsonl

# Decisions baked into the pipeline below, checked by the tests.
KEPT = ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]
DUPLICATE = ["r7", "r8"]
REJECTED = ["r9", "r10", "r11"]
SKIPPED = {"no_image": 1, "no_record": 1, "unsafe_path": 1}
GROUPS = {"r0": "g0", "r7": "g0", "r1": "g1", "r2": "g1", "r3": "g2", "r8": "g2"}
SPLITS = {"r0": "train", "r1": "train", "r2": "val", "r3": "train", "r4": "val"}
SPLITS.update(r5="test", r6="train")


def pytest_configure(config: pytest.Config) -> None:
    # Deprecation notices raised inside FiftyOne's dependencies, not by vitflow's code.
    for spec in (
        "ignore:Passing a class to strawberry.scalar:DeprecationWarning",
        "ignore:No uuidRepresentation is specified:DeprecationWarning",
        r"ignore:connections\(\) is deprecated:DeprecationWarning",
    ):
        config.addinivalue_line("filterwarnings", spec)


def record(i: int, root: Path, split: str = "", **metadata: object) -> Record:
    """Record r{i} with a 32x24 PNG of its own, two boxes, captions and a conversation."""
    path = root / "images" / f"r{i}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        Image.new("RGB", (32, 24), (20 * i % 256, 100, 200)).save(path)
    return Record(
        id=f"r{i}",
        image=f"images/r{i}.png",
        width=32,
        height=24,
        source="scenes",
        split=split,
        annotations=[
            Annotation("circle", [0.1, 0.2, 0.5, 0.6], "circle", "red", "small"),
            Annotation("square", [0.0, 0.0, 1.0, 1.0], "square", "blue", "large"),
        ],
        captions=[f"caption {i}", "two shapes"],
        conversations=[
            {"from": "human", "value": "<image>\nWhat is there?"},
            {"from": "gpt", "value": f"Two shapes ({i})."},
        ],
        metadata=dict(metadata),
    )


def dedup_meta(rid: str) -> dict:
    g = GROUPS.get(rid, f"g-{rid}")
    return {"dedup": {"group": g, "group_size": sum(v == g for v in GROUPS.values()) or 1}}


def build_pipeline(root: Path, captions_of_r0: str = "caption 0") -> dict[str, Path]:
    """ingest -> curate -> dedup outputs in the layouts the stages write."""
    rec = {i: record(i, root) for i in range(12)}
    rec[0].captions[0] = captions_of_r0
    text_only = Record(id="t0", image=None, conversations=rec[0].conversations)
    escaping = Record(id="x0", image="../../etc/passwd")
    ingest_rejects = [
        reject("r11", "validate", "image is truncated", codes=["image_corrupt"], record=rec[11].to_dict()),
        reject("x0", "validate", "escapes the data root", codes=["unsafe"], record=escaping.to_dict()),
        reject(None, "read", "malformed JSON", line=5),
    ]  # fmt: skip
    ingested = root / "ingested"
    write_dataset(ingested, [rec[i] for i in range(11)] + [text_only], root, ingest_rejects)
    curate_rejects = [
        reject("r9", "curate", "blurry", filter="blur", value=3.25, record=rec[9].to_dict()),
        reject("r10", "curate", "too small", filter="min_size", value=8, record=rec[10].to_dict()),
    ]
    curated = root / "curated"
    write_dataset(curated, [rec[i] for i in range(9)], root, curate_rejects)
    kept = [record(int(r[1:]), root, SPLITS[r], **dedup_meta(r)) for r in KEPT]
    kept[0].captions[0] = captions_of_r0
    deduped = root / "deduped"
    write_dataset(deduped, kept, root)
    write_jsonl(
        deduped / "duplicates.jsonl",
        [
            {"id": "r7", "duplicate_of": "r0", "kind": "exact", "similarity": 1.0, "record": rec[7].to_dict()},
            {"id": "r8", "duplicate_of": "r3", "kind": "near", "similarity": 0.97, "record": rec[8].to_dict()},
        ],
    )  # fmt: skip
    vectors = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.savez(
        root / "embeddings.npz", ids=np.array([f"r{i}" for i in range(12)]), embeddings=vectors
    )
    return {
        "ingested": ingested,
        "curated": curated,
        "deduped": deduped,
        "embeddings": root / "embeddings.npz",
    }


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_pipeline(tmp_path_factory.mktemp("pipeline"))
