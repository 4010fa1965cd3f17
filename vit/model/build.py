"""Build the small LLaVA from config (random weights, seeded) and load any LLaVA-family model.

    from vit.model import ModelConfig, build_model, load_model
    path = build_model(ModelConfig(), texts, Path("data/model/init"))
    model, processor = load_model(str(path))                  # or "llava-hf/llava-1.5-7b-hf"

`build_model` saves a standard checkpoint: `LlavaForConditionalGeneration` weights
(safetensors) + a `LlavaProcessor` (CLIP image processor, the trained tokenizer and its chat
template), so `AutoProcessor` and `AutoModelForImageTextToText` load it like any hub LLaVA.
`vitflow_model.json` next to them records the ModelConfig it was built from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vit.model.config import ModelConfig
from vit.model.tokenizer import CHAT_TEMPLATE, IMAGE_TOKEN, train_tokenizer

CONFIG_FILE = "vitflow_model.json"
# CLIP's normalisation, kept so a real CLIP tower could be swapped in without retraining stats.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def llava_config(config: ModelConfig, tokenizer: Any):
    """The transformers LlavaConfig for `config`, with token ids taken from `tokenizer`."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_size=config.vision_hidden,
        intermediate_size=config.vision_intermediate,
        num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads,
        num_channels=3,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.text_hidden,
        intermediate_size=config.text_intermediate,
        num_hidden_layers=config.text_layers,
        num_attention_heads=config.text_heads,
        num_key_value_heads=config.text_kv_heads or config.text_heads,
        max_position_embeddings=config.max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu",
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        image_seq_length=config.num_image_tokens,
    )


def build_processor(config: ModelConfig, tokenizer: Any):
    """A LlavaProcessor that turns one `<image>` into `config.num_image_tokens` tokens."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    side = config.image_size
    image = CLIPImageProcessor(
        size={"shortest_edge": side},
        crop_size={"height": side, "width": side},
        do_center_crop=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )
    return LlavaProcessor(
        image_processor=image,
        tokenizer=tokenizer,
        patch_size=config.patch_size,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,  # CLIP's CLS; "default" drops it again
    )


def build_model(config: ModelConfig, texts: Iterable[str], out: Path) -> Path:
    """Train the tokenizer on `texts`, build a randomly initialised LLaVA, save both to `out`."""
    import torch
    from transformers import LlavaForConditionalGeneration

    out = Path(out)
    tokenizer = train_tokenizer(texts, config.vocab_size)
    cfg = llava_config(config, tokenizer)
    torch.manual_seed(config.seed)
    model = LlavaForConditionalGeneration(cfg)
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    build_processor(config, tokenizer).save_pretrained(out)
    (out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    return out


def load_model(
    path_or_id: str | Path, device: str | None = None, dtype: Any = None
) -> tuple[Any, Any]:
    """(model, processor) of any LLaVA-family checkpoint: a local folder or a hub id.

    `device=None` picks cuda, then mps, then cpu; `dtype=None` is bf16 on cuda, else fp32.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vit.embed.base import dtype_kwargs, resolve_device, resolve_dtype

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    processor = AutoProcessor.from_pretrained(str(path_or_id))
    model = AutoModelForImageTextToText.from_pretrained(
        str(path_or_id), **dtype_kwargs(torch_dtype)
    )
    return model.to(device), processor


def saved_model_config(path: str | Path) -> ModelConfig | None:
    """The ModelConfig a vitflow-built checkpoint came from; None for other checkpoints."""
    p = Path(path) / CONFIG_FILE
    if not p.exists():
        return None
    return ModelConfig(**json.loads(p.read_text()))
