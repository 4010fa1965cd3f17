"""CLIP / SigLIP embeddings of images and texts through transformers.

    get_embedder("clip", model="openai/clip-vit-base-patch32")       # hub id (needs the hub
    get_embedder("clip", model="/models/siglip-so400m", device="cuda")  # or its cache), or path

Any checkpoint `AutoModel` loads with `get_image_features` / `get_text_features` works:
CLIP, SigLIP, SigLIP 2 and their fine-tunes. Images and texts land in one space, so a
caption can be compared with an image. Rows are the projected pooled features,
L2-normalized. On CUDA the model runs in bf16 unless `dtype` says otherwise; the dtype is
part of the key, since bf16 and float32 vectors differ in the third decimal.

Processors: `AutoProcessor` when the folder has a full processor; otherwise the image
processor and tokenizer are loaded separately (`AutoImageProcessor`, `AutoTokenizer`), so
a checkpoint saved without a processor config still loads, and one without a tokenizer
still embeds images.
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

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
# SigLIP was trained on texts padded to a fixed length; padding="longest" shifts its
# text embeddings, so these model types always pad to max_length.
FIXED_PADDING = ("siglip", "siglip2")
TEXT_INPUTS = ("input_ids", "attention_mask", "position_ids")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.*", "*.model", "merges.txt")


class ClipEmbedder(Embedder):
    """A dual encoder: images and texts in one space."""

    name = "clip"
    has_texts = True

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        device: str | None = None,
        batch_size: int = 64,
        dtype: str | None = None,
        revision: str | None = None,
        decode_workers: int = 4,
    ) -> None:
        from transformers import AutoModel

        self.model_name = str(model)
        self.device = resolve_device(device)
        self.torch_dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self.image_processor, self.tokenizer = load_processors(model, revision)
        net = AutoModel.from_pretrained(model, revision=revision, **dtype_kwargs(self.torch_dtype))
        self.model = net.to(self.device).eval()
        self.model_type = getattr(self.model.config, "model_type", "")
        self._dim = _output_dim(self.model.config)
        fp = model_fingerprint(model, revision)
        self.key = make_key(self.name, model, fp, str(self.torch_dtype))

    @property
    def dim(self) -> int:
        return self._dim

    def embed_pil(self, images: Sequence[Image.Image], progress: bool | None = None) -> np.ndarray:
        def one(batch: Sequence[Image.Image]):
            inputs = self.image_processor(images=list(batch), return_tensors="pt")
            return self.model.get_image_features(**self._to_device(inputs))

        return self._run(images, one, "clip images", progress)

    def embed_texts(self, texts: Sequence[str], progress: bool | None = None) -> np.ndarray:
        if self.tokenizer is None:
            raise NotImplementedError(f"{self.model_name} has no tokenizer: it embeds images only")
        fixed = self.model_type in FIXED_PADDING
        max_len = _max_text_length(self.model.config, self.tokenizer)

        def one(batch: Sequence[str]):
            inputs = self.tokenizer(
                list(batch),
                padding="max_length" if fixed else True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
            inputs = {k: v for k, v in inputs.items() if k in TEXT_INPUTS}
            return self.model.get_text_features(**self._to_device(inputs))

        return self._run(texts, one, "clip texts", progress)

    def _run(self, items: Sequence[Any], one, desc: str, progress: bool | None) -> np.ndarray:
        """Batches through `one` under inference mode; float32 rows, unit length."""
        import torch

        out = np.empty((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode(), progress_bar(len(items), desc, progress) as bar:
            for lo, hi in iter_batches(len(items), self.batch_size):
                out[lo:hi] = pooled(one(items[lo:hi])).float().cpu().numpy()
                bar.update(hi - lo)
        return l2_normalize(out)

    def _to_device(self, inputs: Any) -> dict[str, Any]:
        """Tensors onto the model's device; floating ones (pixels) in its dtype."""
        moved = {}
        for k, v in dict(inputs).items():
            if hasattr(v, "to"):
                v = (
                    v.to(self.device, self.torch_dtype)
                    if v.is_floating_point()
                    else v.to(self.device)
                )
            moved[k] = v
        return moved


def load_processors(model: str | Path, revision: str | None = None) -> tuple[Any, Any]:
    """(image processor, tokenizer or None) of a checkpoint: from its AutoProcessor when it
    has one, else each on its own, so a folder saved with only `preprocessor_config.json`
    still embeds images (and says so clearly if asked for texts)."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    proc = _try_load(AutoProcessor, model, revision)
    image_proc = getattr(proc, "image_processor", None)
    if image_proc is None:
        image_proc = _try_load(AutoImageProcessor, model, revision)
    tok = getattr(proc, "tokenizer", None) or _try_load(AutoTokenizer, model, revision)
    if not _has_tokenizer_files(model):
        tok = None  # transformers 5 builds an empty tokenizer from the config alone
    if image_proc is None:
        raise OSError(f"{model}: no image processor found (preprocessor_config.json)")
    return image_proc, tok


def _try_load(auto: Any, model: str | Path, revision: str | None) -> Any:
    try:
        return auto.from_pretrained(model, revision=revision)
    except Exception:  # loaders raise OSError, ValueError, KeyError...: all mean "not here"
        return None


def _has_tokenizer_files(model: str | Path) -> bool:
    """A local folder must carry a vocabulary; a hub id is trusted to."""
    p = Path(model)
    if not p.is_dir():
        return True
    return any(next(p.glob(pat), None) is not None for pat in TOKENIZER_FILES)


def _output_dim(config: Any) -> int:
    """CLIP projects to `projection_dim`; SigLIP's pooled output keeps the hidden size."""
    dim = getattr(config, "projection_dim", None)
    if dim:
        return int(dim)
    return int(config.vision_config.hidden_size)


def _max_text_length(config: Any, tokenizer: Any) -> int:
    """The text tower's position limit (77 for CLIP, 64 for SigLIP), or less if the
    tokenizer says so; longer captions are truncated rather than crashing the batch."""
    limit = int(getattr(config.text_config, "max_position_embeddings", 512))
    tok_max = getattr(tokenizer, "model_max_length", None) or limit
    return min(limit, int(tok_max))
