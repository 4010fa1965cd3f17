"""The joint objective's image term: predict a low-resolution image from the LM's states.

    loss = lambda_text * next_token_loss + lambda_img * mse(head(mean_image_states), tiny_image)

The head reads the language model's last hidden states averaged over the image-token
positions and predicts the image pooled down to `size x size x 3` (in the processor's
normalised pixel space, so the target needs no second preprocessing). It pushes the LM to
keep what the image looks like in its states, the source document's answer to a VLM that
learns the language prior and ignores the picture. Off by default (lambda_img = 0).

The head is attached to the model as the submodule `vitflow_image_head`, so checkpoints
save it and resume restores it; `detach_head` removes it before the HF export.
"""

from __future__ import annotations

from typing import Any

from vit.train.freeze import HEAD


def make_head(hidden: int, size: int) -> Any:
    """A two-layer MLP from one hidden state to a flattened `3 x size x size` image."""
    from torch import nn

    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 3 * size * size))


def attach_head(model: Any, size: int, seed: int = 0) -> Any:
    """Add the image head to a LLaVA-family model (before any peft wrapping); returns it."""
    import torch

    text = getattr(model.config, "text_config", model.config)
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # the head's init must not shift the data order's rng
        head = make_head(int(text.hidden_size), size)
    head.to(next(model.parameters()).device)
    head.size = size
    setattr(model, HEAD, head)
    return head


def find_head(model: Any) -> Any | None:
    """The image head inside `model` (through peft/DDP wrappers), or None."""
    for name, module in model.named_modules():
        if name.split(".")[-1] == HEAD:
            return module
    return None


def detach_head(model: Any) -> None:
    """Remove the head so the exported model is a plain LLaVA checkpoint."""
    if hasattr(model, HEAD):
        delattr(model, HEAD)


def image_token_id(config: Any) -> int:
    tid = getattr(config, "image_token_id", None)
    return int(tid if tid is not None else config.image_token_index)


def image_loss(
    head: Any, hidden: Any, input_ids: Any, pixel_values: Any, token_id: int, size: int
) -> Any:
    """MSE between the head's prediction and the pooled image, over rows that have an image.

    LLaVA lays pixel_values out one row per image in batch order, and a vitflow example has
    at most one image, so the k-th row with image tokens owns the k-th pixel row.
    """
    import torch.nn.functional as F

    mask = (input_ids == token_id).unsqueeze(-1).to(hidden.dtype)
    rows = mask.squeeze(-1).sum(1) > 0
    if pixel_values is None or not rows.any():
        return hidden.new_zeros(())
    mean = (hidden * mask).sum(1)[rows] / mask.sum(1)[rows]
    pred = head(mean.float())
    target = F.adaptive_avg_pool2d(pixel_values.float(), size).flatten(1)
    return F.mse_loss(pred, target.to(pred.device))
