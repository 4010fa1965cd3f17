"""Image embeddings from the vision side of a LLaVA-family model (the model vitflow tunes).

    get_embedder("vlm", model="runs/tune/final")                         # a vitflow checkpoint
    get_embedder("vlm", model="llava-hf/llava-1.5-7b-hf", device="cuda")  # any LLaVA-family

Loaded with `AutoModelForImageTextToText` (falling back to `LlavaForConditionalGeneration`)
and its `AutoImageProcessor`. The language model is dropped right after loading: it is
~95% of a LLaVA's weights and plays no part here.

Pooling (`pooling=`):

- `"projector"` (default): the multimodal projector applied to the vision tower's
  selected layer (LLaVA's `vision_feature_layer`, usually the penultimate, CLS dropped per
  `vision_feature_select_strategy`), mean-pooled over patches. These are exactly the tokens
  the language model reads, so after tuning they reflect what the tuned model sees; the
  projector is what stage-1 alignment trains, and active learning wants distances in the
  tuned model's space, not in the frozen encoder's.
- `"vision"`: the vision tower's own pooled output (CLIP's post-layernorm CLS of the last
  layer). LLaVA never feeds this to the LM; it is the untuned encoder's view, useful as a
  baseline. Untiled (LLaVA-1.5 style) pixel batches only.

The model's own `get_image_features` does the layer selection and projection, and a list
of per-image features (what LLaVA-NeXT returns for tiled images) is pooled per image, so
that layout should work too; the tests cover the LLaVA-1.5 layout (`LlavaConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vit.embed.base import (
    Embedder,
    dtype_kwargs,
    iter_batches,
    l2_normalize,
    make_key,
    model_fingerprint,
    pooled,
    progress_bar,
    resolve_device,
    resolve_dtype,
)

if TYPE_CHECKING:
    from PIL import Image

POOLINGS = ("projector", "vision")


class VlmEmbedder(Embedder):
    """The vision tower (+ projector) of an image-text-to-text model. Image-only."""

    name = "vlm"
    has_texts = False

    def __init__(
        self,
        model: str | Path,
        device: str | None = None,
        batch_size: int = 32,
        dtype: str | None = None,
        revision: str | None = None,
        pooling: str = "projector",
        decode_workers: int = 4,
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.device = resolve_device(device)
        self.torch_dtype = resolve_dtype(dtype, self.device)
        self.batch_size, self.pooling, self.decode_workers = batch_size, pooling, decode_workers
        self.net = _load_vision_side(model, revision, self.device, self.torch_dtype)
        self.config = self.net.config
        self.image_processor = _image_processor(model, revision)
        side = self.config.text_config if pooling == "projector" else self.config.vision_config
        self._dim = int(side.hidden_size)
        fp = model_fingerprint(model, revision)
        self.key = make_key(self.name, model, fp, pooling, str(self.torch_dtype))

    @property
    def dim(self) -> int:
        return self._dim

    def embed_pil(self, images: Sequence[Image.Image], progress: bool | None = None) -> np.ndarray:
        import torch

        out = np.empty((len(images), self.dim), dtype=np.float32)
        with torch.inference_mode(), progress_bar(len(images), "vlm images", progress) as bar:
            for lo, hi in iter_batches(len(images), self.batch_size):
                inputs = self.image_processor(images=list(images[lo:hi]), return_tensors="pt")
                out[lo:hi] = self._pool(inputs)
                bar.update(hi - lo)
        return l2_normalize(out)

    def _pool(self, inputs: Any) -> np.ndarray:
        pixels = inputs["pixel_values"].to(self.device, self.torch_dtype)
        if self.pooling == "vision":
            feats = self.net.vision_tower(pixels).pooler_output
            return feats.float().cpu().numpy()
        extra = {k: inputs[k].to(self.device) for k in ("image_sizes",) if k in inputs}
        out = self.net.get_image_features(
            pixel_values=pixels,
            vision_feature_layer=self.config.vision_feature_layer,
            vision_feature_select_strategy=self.config.vision_feature_select_strategy,
            **extra,
        )
        # One (patches, hidden) tensor per image: a batch tensor in LLaVA, a list when
        # images tile into different patch counts (LLaVA-NeXT); mean over patches either way.
        per_image = pooled(out)
        rows = [f.reshape(-1, f.shape[-1]).float().mean(0) for f in per_image]
        return np.stack([r.cpu().numpy() for r in rows])


def _load_vision_side(model: str | Path, revision: str | None, device: str, dtype) -> Any:
    """The inner multimodal model (vision tower + projector) with its LM replaced by a stub.

    On CUDA the weights load straight onto the GPU (no full copy in host RAM); the LM's
    share is freed as soon as it is dropped."""
    import torch
    from transformers import AutoModelForImageTextToText, LlavaForConditionalGeneration

    kwargs = {"revision": revision, **dtype_kwargs(dtype)}
    if device.startswith("cuda"):
        kwargs["device_map"] = device
    try:
        full = AutoModelForImageTextToText.from_pretrained(model, **kwargs)
    except ValueError:  # a config AutoModelForImageTextToText does not map: try LLaVA itself
        full = LlavaForConditionalGeneration.from_pretrained(model, **kwargs)
    inner = getattr(full, "model", full)
    if not hasattr(inner, "get_image_features") or not hasattr(inner, "vision_tower"):
        raise ValueError(f"{model}: {type(full).__name__} has no vision tower to embed with")
    if hasattr(inner, "language_model"):
        inner.language_model = torch.nn.Identity()
    del full
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return inner.to(device).eval()


def _image_processor(model: str | Path, revision: str | None) -> Any:
    """The image processor alone (no tokenizer to load); a folder saved with a full
    processor keeps it inside `processor_config.json`, which older transformers only
    read through AutoProcessor."""
    from transformers import AutoImageProcessor, AutoProcessor

    try:
        return AutoImageProcessor.from_pretrained(model, revision=revision)
    except (OSError, ValueError):
        return AutoProcessor.from_pretrained(model, revision=revision).image_processor
