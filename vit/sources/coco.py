"""COCO captions and instances JSON in.

    vit ingest --format coco annotations/captions_train2017.json --image-root train2017 --out DIR

One record per entry of `images` ({id, file_name, width, height}), with every caption of
that image (`annotations[*].caption`) and, for an instances file (`categories` + `bbox`),
every object: its category name as label and its pixel [x, y, w, h] box normalized to
(x1, y1, x2, y2) in [0, 1] by the image's width and height, clamped to the image. Images
without annotations are kept (they feed the unlabeled pool). Conversations stay empty:
writing instructions is the synthesize stage's job.

Refused, each with a reject row, while the rest goes on: an image entry without id or
file_name (or a repeated id), an annotation that names a missing image id or an unknown
category, a box that cannot be normalized. A refused annotation leaves its image's record
in place. The record id is the COCO image id as a string; other image keys (license,
coco_url, ...) go to `metadata["extra"]`. Image root default: the JSON file's folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vit.records import Annotation, Record, RecordError, reject
from vit.sources._common import default_root, json_id
from vit.sources.base import Source

IMAGE_KEYS = {"id", "file_name", "width", "height"}


def read_coco(src: Path, image_root: Path | None = None) -> Source:
    """Records (one per image, with captions and boxes) from a COCO JSON file."""
    src = Path(src)
    rejects: list[dict[str, Any]] = []
    return Source(default_root(src, image_root), _records(src, rejects), rejects)


def _records(src: Path, rejects: list[dict[str, Any]]) -> Iterator[Record]:
    try:
        data = json.loads(src.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        rejects.append(reject(None, "read", f"file is not valid JSON: {e}", file=src.name))
        return
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        rejects.append(reject(None, "read", "not a COCO file: no 'images' list", file=src.name))
        return
    images = _index_images(data["images"], rejects)
    cats = {
        c.get("id"): str(c.get("name")) for c in data.get("categories") or [] if isinstance(c, dict)
    }
    by_image = _group_annotations(data.get("annotations") or [], images, rejects)
    for image_id, im in images.items():
        try:
            yield _record(image_id, im, by_image.get(image_id, []), cats, src.name, rejects)
        except (RecordError, TypeError, ValueError) as e:
            rejects.append(reject(image_id, "read", str(e), image=im.get("file_name")))


def _index_images(entries: list[Any], rejects: list[dict[str, Any]]) -> dict[str, dict]:
    images: dict[str, dict] = {}
    for i, im in enumerate(entries):
        rid = json_id(im.get("id")) if isinstance(im, dict) else None
        if rid is None or not isinstance(im.get("file_name"), str) or not im["file_name"]:
            rejects.append(reject(rid, "read", "image entry needs an id and a file_name", index=i))
        elif rid in images:
            rejects.append(reject(rid, "read", f"image id {rid} is repeated", index=i))
        else:
            images[rid] = im
    return images


def _group_annotations(
    anns: list[Any], images: dict[str, dict], rejects: list[dict[str, Any]]
) -> dict[str, list[dict]]:
    by_image: dict[str, list[dict]] = {}
    for i, ann in enumerate(anns):
        image_id = json_id(ann.get("image_id")) if isinstance(ann, dict) else None
        if image_id not in images:
            aid = ann.get("id") if isinstance(ann, dict) else None
            reason = f"annotation refers to missing image id {image_id}"
            rejects.append(reject(aid, "read", reason, index=i, image_id=image_id))
            continue
        by_image.setdefault(image_id, []).append(ann)
    return by_image


def _record(
    rid: str, im: dict, anns: list[dict], cats: dict, source: str, rejects: list[dict[str, Any]]
) -> Record:
    objects = []
    for ann in anns:
        if "bbox" not in ann:
            continue
        try:
            objects.append(_annotation(ann, cats, im.get("width"), im.get("height")))
        except (RecordError, TypeError, ValueError) as e:
            rejects.append(reject(ann.get("id"), "read", str(e), image_id=rid))
    d: dict[str, Any] = {
        "id": rid,
        "image": im["file_name"],
        "width": im.get("width"),
        "height": im.get("height"),
        "source": source,
        "captions": [str(a["caption"]) for a in anns if a.get("caption") is not None],
        "annotations": objects,
    }
    extra = {k: v for k, v in im.items() if k not in IMAGE_KEYS}
    if extra:
        d["metadata"] = {"extra": extra}
    return Record.from_dict(d)


def _annotation(ann: dict, cats: dict, width: Any, height: Any) -> dict[str, Any]:
    """A COCO object -> an Annotation dict with a normalized (x1, y1, x2, y2) box."""
    if ann.get("category_id") not in cats:
        raise RecordError(f"annotation has unknown category_id {ann.get('category_id')!r}")
    if not (isinstance(width, int | float) and isinstance(height, int | float)):
        raise RecordError("image has no width/height to normalize boxes by")
    if width <= 0 or height <= 0:
        raise RecordError(f"image size {width}x{height} cannot normalize boxes")
    x, y, bw, bh = (float(v) for v in ann["bbox"])

    def clamp(v: float) -> float:
        # COCO boxes overshoot the border by a pixel now and then; the object is still there.
        return round(min(max(v, 0.0), 1.0), 6)

    box = [clamp(x / width), clamp(y / height), clamp((x + bw) / width), clamp((y + bh) / height)]
    d = {"label": cats[ann["category_id"]], "box": box}
    Annotation.from_dict(d)  # checked here, so one bad box refuses one object, not the image
    return d
