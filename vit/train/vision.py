"""Stage 0, `vision`: the vision tower learns to see before the language model reads it.

LLaVA starts from a pretrained CLIP tower. vitflow's offline default has none: its tower is
random, and through the language model's loss it gets a few answer tokens of signal per
image, too little to learn shapes in the demo's budget (README, "Tuning and evaluation").
This stage trains the tower alone on the dense labels the records' boxes give every patch
(vit.train.patch_head: color, shape and size of the object at the patch centre, or
background), with horizontal flips (labels flipped with the image; each image alternates
by epoch, `hflip` in TrainData, so a resumed run repeats the same flips). Nothing of the
language model runs, so a step costs a fraction of a VLM step. Only the tower and the
training-only patch head learn; the export is the whole model with a tower that sees.

Measured on the demo's 1,803 training scenes (64 px, patch 8): per-patch shape accuracy on
test objects is chance (0.30) after 1,500 steps and 0.77 after 4,000 at lr 2e-3 with flips;
the same steps inside the VLM stages never got there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from vit.records import open_rgb
from vit.train.patch_head import patch_labels

# Preprocessed images kept in memory: the stage sees each image many times.
PIXEL_CACHE = 8192


def flip_patch_labels(labels: Any, grid: int) -> Any:
    """[B, G*G, K] labels of horizontally flipped images: each row of patches reversed."""
    b, n, k = labels.shape
    return labels.reshape(b, grid, grid, k).flip(2).reshape(b, n, k)


class VisionCollator:
    """Examples with an image and boxes -> `pixel_values` [B, 3, H, W] + `patch_labels`;
    an example marked `hflip` is mirrored, its labels with it."""

    def __init__(self, processor: Any, grid: int, hflip: bool = True) -> None:
        self.processor, self.grid, self.hflip = processor, grid, hflip
        self.cache: OrderedDict[str, Any] = OrderedDict()

    def pixels(self, image: str, rid: str) -> Any:
        if image in self.cache:
            self.cache.move_to_end(image)
            return self.cache[image]
        img = open_rgb(image, rid)
        if img is None:
            raise ValueError(f"record {rid}: the vision stage needs an image")
        out = self.processor.image_processor(images=[img], return_tensors="pt")["pixel_values"]
        self.cache[image] = out[0]
        if len(self.cache) > PIXEL_CACHE:
            self.cache.popitem(last=False)
        return out[0]

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        pixels = torch.stack([self.pixels(ex["image"], ex["id"]) for ex in examples])
        labels = torch.tensor(
            [patch_labels(ex.get("annotations") or [], self.grid) for ex in examples],
            dtype=torch.long,
        )
        if self.hflip:
            flip = torch.tensor([bool(ex.get("hflip")) for ex in examples])
            pixels[flip] = pixels[flip].flip(-1)
            labels[flip] = flip_patch_labels(labels[flip], self.grid)
        return {"pixel_values": pixels, "patch_labels": labels}


def tower_forward(model: Any, pixel_values: Any) -> None:
    """Run the tower and the projector only (the patch-feature hook keeps the projector's
    input); the language model never runs in this stage."""
    config = model.config
    model.get_image_features(
        pixel_values=pixel_values,
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
    )
