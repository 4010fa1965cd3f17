"""Training examples from a vitflow dataset folder, in the shape `VLMCollator` takes.

    ds = TrainData("data/dedup", stage="align", split="train")
    ds[0]  # {"id", "image": "/abs/path.png", "conversations": [...]}

Stage "align" learns to say what is in the image: one brief-caption exchange per record with
captions (the caption shown cycles with the epoch, so every caption is seen over a run), and
the record's own conversations when it is a detailed description (synth type "detail").
Stage "instruct" uses every record's conversations as they are. Stage "vision" (the tower
alone, vit.train.vision) takes every record with an image and at least one box.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from vit.records import IMAGE_TOKEN, Dataset, Record
from vit.train.config import STAGES

ALIGN_PROMPT = "Describe the image briefly."


def _stable_offset(rid: str) -> int:
    # Python's hash() is salted per process; a run and its resume must pick the same caption.
    return int.from_bytes(hashlib.sha256(rid.encode()).digest()[:4], "big")


def is_detail(rec: Record) -> bool:
    """True for a detailed-description record (what LLaVA's stage 1 also learns from)."""
    synth = rec.metadata.get("synth")
    return isinstance(synth, dict) and synth.get("type") == "detail"


def select(ds: Dataset, stage: str, split: str | None) -> list[Record]:
    """The records of `split` ('' or None = all) that give `stage` something to learn."""
    out = []
    for rec in ds:
        if split and rec.split != split:
            continue
        if stage == "vision":
            if rec.image and any(a.box for a in rec.annotations):
                out.append(rec)
        elif stage == "align":
            if rec.image and (rec.captions or (is_detail(rec) and rec.conversations)):
                out.append(rec)
        elif rec.conversations:
            out.append(rec)
    return out


def has_split(path: str | Path, split: str) -> bool:
    """Whether any record of the dataset at `path` is in `split`."""
    return any(rec.split == split for rec in Dataset.open(path))


class TrainData:
    """A map-style torch dataset (len + getitem) of collator examples; images stay on disk."""

    def __init__(self, path: str | Path, stage: str, split: str | None = None) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage {stage!r}: choose from {STAGES}")
        self.ds = Dataset.open(path)
        self.stage = stage
        self.split = split
        self.records = select(self.ds, stage, split)
        self.epoch = 0
        if not self.records:
            raise ValueError(f"{path}: no records for stage {stage!r} in split {split or 'any'!r}")

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Called at each epoch start (a Trainer callback): the next caption of each record."""
        self.epoch = int(epoch)

    def lengths(self) -> list[int]:
        """A cost proxy per example for length grouping: the characters of its turns."""
        return [sum(len(t["value"]) for t in self.conversations(r)) for r in self.records]

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        image = str(self.ds.resolve(rec)) if rec.image else None
        return {
            "id": rec.id,
            "image": image,
            "conversations": self.conversations(rec),
            # the vision stage's mirror augmentation: each image alternates by epoch, a
            # function of (id, epoch) and not of an RNG, so a resumed run sees the same
            "hflip": self.stage == "vision" and (_stable_offset(rec.id) + self.epoch) % 2 == 1,
            # boxes + attributes for the optional dense grounding loss (vit.train.patch_head)
            "annotations": [
                {"box": a.box, "color": a.color, "shape": a.shape, "size": a.size}
                for a in rec.annotations
                if a.box
            ],
        }

    def conversations(self, rec: Record) -> list[dict[str, str]]:
        if self.stage == "vision":
            return []
        if self.stage == "instruct" or not rec.captions:
            return rec.conversations
        k = (_stable_offset(rec.id) + self.epoch) % len(rec.captions)
        return [
            {"from": "human", "value": f"{IMAGE_TOKEN}\n{ALIGN_PROMPT}"},
            {"from": "gpt", "value": rec.captions[k]},
        ]
