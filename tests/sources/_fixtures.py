"""Small records and images shared by the format tests (PNG files written by PIL)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from PIL import Image

from vit.records import Annotation, Record


def png(path: Path, color: str = "red", size: tuple[int, int] = (8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "PNG")
    return path


def sample_records(root: Path) -> list[Record]:
    """Four records covering what the formats must carry: boxes, captions, metadata, a
    system prompt, a placeholder without newline, a text-only record, a caption-only one."""
    png(root / "a.png", "red")
    png(root / "sub" / "b.png", "blue", (5, 7))
    png(root / "c.png", "green")
    return [
        Record(
            id="000123",
            image="a.png",
            width=8,
            height=6,
            source="scenes",
            split="train",
            annotations=[
                Annotation("circle", [0.1, 0.2, 0.5, 0.6], "circle", "red", "small"),
                Annotation("square"),
            ],
            captions=["a red circle", "one shape"],
            conversations=[
                {"from": "human", "value": "<image>\nWhat shape is it?"},
                {"from": "gpt", "value": "A circle."},
                {"from": "human", "value": "And its color?"},
                {"from": "gpt", "value": "Red."},
            ],
            metadata={"difficulty": "easy", "seed": 3, "nested": {"k": [1, 2.5]}},
        ),
        Record(
            id="b",
            image="sub/b.png",
            source="scenes",
            split="val",
            # No newline after the placeholder: TRL content lists cannot say that alone.
            conversations=[
                {"from": "human", "value": "<image>What color?"},
                {"from": "gpt", "value": "Blue."},
            ],
            metadata={"system": "You answer in one word."},
        ),
        Record(
            id="text-1",
            source="chat",
            conversations=[
                {"from": "human", "value": "What is 2+2?"},
                {"from": "gpt", "value": "4"},
            ],
        ),
        Record(id="c", image="c.png", width=8, height=6, captions=["a green square"]),
    ]


def under_images(records: list[Record]) -> list[Record]:
    """What a JSON export reads back as: the same records, images under `images/`."""
    return [
        dataclasses.replace(r, image=None if r.image is None else f"images/{r.image}")
        for r in records
    ]


def write_lines(path: Path, rows: list) -> Path:
    """JSONL from rows; a str row is written raw (to plant malformed lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_text(text)
    return path
