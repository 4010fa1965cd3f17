"""ModelConfig: the sizes of the small LLaVA that vitflow builds from config (params.yaml `model`).

from vit.config import build, section
cfg = build(ModelConfig, section("model"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vit.config import param_field as _f


@dataclass
class ModelConfig:
    """A CLIP vision tower + a Llama language model joined by a projector (LLaVA-1.5 layout)."""

    image_size: int = _f(64, "input side in pixels (images are resized + center-cropped)")
    patch_size: int = _f(8, "ViT patch side; (image_size/patch_size)^2 image tokens")
    vision_hidden: int = _f(64, "vision tower width")
    vision_layers: int = _f(2, "vision tower depth")
    vision_heads: int = _f(2, "vision attention heads")
    vision_intermediate: int = _f(128, "vision MLP width")
    text_hidden: int = _f(128, "language model width")
    text_layers: int = _f(2, "language model depth")
    text_heads: int = _f(4, "language model attention heads")
    text_kv_heads: int = _f(0, "key/value heads (grouped-query attention); 0 = text_heads")
    text_intermediate: int = _f(256, "language model MLP width")
    vocab_size: int = _f(1024, "tokenizer vocabulary size to train (specials included)")
    max_length: int = _f(256, "longest sequence in tokens (image tokens included)")
    projector: str = _f("mlp2x_gelu", "vision->text projector; LLaVA-1.5's two-layer GELU MLP")
    vision_feature_layer: int = _f(-1, "vision layer fed to the projector (-2 in LLaVA-1.5)")
    vision_feature_select_strategy: str = _f(
        "default", "'default' drops CLIP's CLS token, 'full' keeps it (+1 image token)"
    )
    seed: int = _f(0, "seed for the random initialisation")

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.projector != "mlp2x_gelu":
            raise ValueError(f"projector {self.projector!r}: only 'mlp2x_gelu' is supported")
        if self.vision_feature_select_strategy not in ("default", "full"):
            raise ValueError("vision_feature_select_strategy must be 'default' or 'full'")
        if not -self.vision_layers - 1 <= self.vision_feature_layer < self.vision_layers + 1:
            raise ValueError(f"vision_feature_layer {self.vision_feature_layer} out of range")

    @property
    def num_image_tokens(self) -> int:
        """Tokens one image becomes in the language model's input."""
        n = (self.image_size // self.patch_size) ** 2
        return n + (1 if self.vision_feature_select_strategy == "full" else 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
