"""The VLM: build a small LLaVA from config or load any LLaVA-family checkpoint; collate.

Heavy imports (torch, transformers, tokenizers) happen inside the functions.
"""

from vit.model.build import build_model, load_model
from vit.model.collate import VLMCollator, check_batch
from vit.model.config import ModelConfig
from vit.model.tokenizer import CHAT_TEMPLATE, train_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "ModelConfig",
    "VLMCollator",
    "build_model",
    "check_batch",
    "load_model",
    "train_tokenizer",
]
