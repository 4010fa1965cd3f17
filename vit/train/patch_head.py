"""A dense grounding loss: every image patch predicts what the annotations put there.

    loss = lambda_text * next_token_loss + lambda_patch * CE(head(patch_features), patch_labels)

A vision tower trained from scratch only through next-token loss gets a few answer tokens of
signal per image, so it learns global statistics (the dominant color) long before it sees
shapes (measured: README, "Tuning and evaluation"). The records already carry boxes with
color, shape and size, so each of the G x G patches gets three labels (what covers the
patch centre: color, shape and size, or background) and a linear head on the features the
projector reads is trained to predict them: 3 x G^2 targets per image instead of a handful.
It is the dense form of the source document's image term (vit.train.joint) and, like it,
is a training-only head: attached as `vitflow_patch_head`, saved in checkpoints, removed
before the HF export. Off by default (lambda_patch = 0); records without boxes add nothing.

With `patch_position`, the head also predicts each patch's own row and column (G classes
each, the same for every image, so flips need nothing). A from-scratch tower otherwise
drops where a patch is: on the demo's tower a linear probe read the column from the
projector's input with R^2 = 0.01 (the row 0.4), and left/right questions were at chance,
since the language model sees the patches in one row-major sequence and cannot tell a
neighbour to the right from one in the next row from the token distance alone. With the
target on, the probe reads column and row at R^2 0.96 / 0.95, yet the demo's 3-layer
language model still answered sides at chance and lost 6 points overall (README, "Where a
patch is"): off by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vit.sources.scenes import COLORS, SHAPES

PATCH_HEAD = "vitflow_patch_head"
SIZES = ("small", "large")
IGNORE = -100
# (attribute, vocabulary): class 0 is background / no object, class k is vocabulary[k - 1].
ATTRIBUTES = (("color", tuple(COLORS)), ("shape", tuple(SHAPES)), ("size", SIZES))
N_CLASSES = tuple(len(v) + 1 for _, v in ATTRIBUTES)


def patch_labels(annotations: Sequence[dict[str, Any]], grid: int) -> list[list[int]]:
    """[G*G][3] class ids, row-major from the top-left patch: the last-drawn object whose box
    holds the patch centre, else background. No boxes at all: every label is IGNORE."""
    boxed = [a for a in annotations if a.get("box")]
    if not boxed:
        return [[IGNORE] * len(ATTRIBUTES) for _ in range(grid * grid)]
    out = []
    for row in range(grid):
        cy = (row + 0.5) / grid
        for col in range(grid):
            cx = (col + 0.5) / grid
            hit = None
            for a in boxed:  # the generator draws in list order: later objects lie on top
                x1, y1, x2, y2 = a["box"]
                if x1 <= cx <= x2 and y1 <= cy <= y2:
                    hit = a
            out.append([_class(hit, attr, vocab) for attr, vocab in ATTRIBUTES])
    return out


def _class(ann: dict[str, Any] | None, attr: str, vocab: tuple[str, ...]) -> int:
    if ann is None:
        return 0
    value = ann.get(attr)
    return vocab.index(value) + 1 if value in vocab else IGNORE


class PatchLabelCollator:
    """Wraps the VLM collator: adds `patch_labels` [B, G*G, 3] for the examples' images."""

    def __init__(self, base: Any, grid: int) -> None:
        self.base, self.grid = base, grid

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = self.base(examples)
        rows = [
            patch_labels(ex.get("annotations") or [], self.grid)
            for ex in examples
            if ex.get("image")
        ]
        if rows and "pixel_values" in batch:
            batch["patch_labels"] = torch.tensor(rows, dtype=torch.long)
        return batch


def grid_of(model: Any) -> int:
    """Patches per side of the model's vision tower."""
    vision = model.config.vision_config
    return int(vision.image_size) // int(vision.patch_size)


def attach_patch_head(model: Any, seed: int = 0, position: bool = False) -> Any:
    """A linear head from the projector's input features to the three class sets (and,
    with `position`, to each patch's row and column)."""
    import torch
    from torch import nn

    hidden = int(model.config.vision_config.hidden_size)
    extra = 2 * grid_of(model) if position else 0
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = nn.Linear(hidden, sum(N_CLASSES) + extra)
    head.to(next(model.parameters()).device)
    setattr(model, PATCH_HEAD, head)
    return head


def capture_patch_features(model: Any) -> dict[str, Any]:
    """Keep the projector's input (the patch features) of the last forward in the returned
    dict: a forward pre-hook, so the LLaVA forward itself is untouched."""
    store: dict[str, Any] = {}
    projector = next(m for n, m in model.named_modules() if n.endswith("multi_modal_projector"))

    def keep(_module: Any, args: tuple) -> None:
        store["features"] = args[0]

    store["handle"] = projector.register_forward_pre_hook(keep)
    return store


def position_labels(labels: Any) -> Any:
    """[B, G*G, 2] row and column of every patch, row-major, on the images that have labels
    (IGNORE on the others, as for the attributes)."""
    import torch

    n = labels.shape[1]
    grid = int(round(n**0.5))
    idx = torch.arange(n, device=labels.device)
    pos = torch.stack([idx // grid, idx % grid], -1).expand(labels.shape[0], n, 2).clone()
    pos[~(labels != IGNORE).any(-1).any(-1)] = IGNORE
    return pos


def patch_loss(head: Any, features: Any, labels: Any) -> Any:
    """Mean cross-entropy over the three attributes (and row and column, when the head is
    wide enough for them) and every labelled patch."""
    import torch
    import torch.nn.functional as F

    if not (labels != IGNORE).any():
        return features.new_zeros(())
    feats = features[:, -labels.shape[1] :, :]  # drop CLS when the strategy keeps it
    logits = head(feats.float())
    sizes = list(N_CLASSES)
    if logits.shape[-1] > sum(N_CLASSES):  # a position head: G rows, then G columns
        grid = int(round(labels.shape[1] ** 0.5))
        sizes += [grid, grid]
        labels = torch.cat([labels, position_labels(labels)], -1)
    loss, start = 0.0, 0
    for k, n in enumerate(sizes):
        part = logits[..., start : start + n].reshape(-1, n)
        target = labels[..., k].reshape(-1).to(part.device)
        loss = loss + F.cross_entropy(part, target, ignore_index=IGNORE)
        start += n
    return loss / len(sizes)
