"""Tiny checkpoints built from config, offline, for the embedder tests.

Nothing here touches the hub: a byte-level BPE vocabulary (256 bytes, their word-final
forms, two specials) stands in for CLIP's 49k, which is enough for a real `CLIPTokenizer`
whose tokens differ between texts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIDE = 32  # tiny vision towers look at 32x32 pixels in 8x8 patches


def tiny_vocab() -> dict[str, int]:
    from tokenizers import pre_tokenizers

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def tiny_clip_processor():
    from transformers import CLIPImageProcessor, CLIPProcessor, CLIPTokenizer

    tok = CLIPTokenizer(vocab=tiny_vocab(), merges=[])
    image = CLIPImageProcessor(
        size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE}
    )
    return CLIPProcessor(image_processor=image, tokenizer=tok)


def tiny_vision_config(**kw):
    from transformers import CLIPVisionConfig

    args = dict(
        image_size=SIDE,
        patch_size=8,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
    )
    return CLIPVisionConfig(**{**args, **kw})


def save_tiny_clip(out: Path, seed: int = 0) -> Path:
    """A 2-layer CLIPModel (projection 16) + CLIPProcessor saved to `out`."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    vocab = tiny_vocab()
    text = dict(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
        # CLIP pools the text at its end-of-text token: ids must exist in this vocabulary.
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    cfg = CLIPConfig(
        text_config=text, vision_config=tiny_vision_config().to_dict(), projection_dim=16
    )
    torch.manual_seed(seed)
    CLIPModel(cfg).save_pretrained(out)
    tiny_clip_processor().save_pretrained(out)
    return out


def save_tiny_siglip(out: Path, seed: int = 0) -> Path:
    """A 2-layer SiglipModel saved with a SiglipImageProcessor and the byte-level tokenizer."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    text = dict(
        vocab_size=len(tiny_vocab()),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
    )
    vision = tiny_vision_config().to_dict()
    torch.manual_seed(seed)
    SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).save_pretrained(out)
    SiglipImageProcessor(size={"height": SIDE, "width": SIDE}).save_pretrained(out)
    tiny_clip_processor().tokenizer.save_pretrained(out)
    return out


def save_tiny_llava(out: Path, seed: int = 0) -> Path:
    """A LlavaForConditionalGeneration (CLIP vision 2 layers, Llama 2 layers) + image processor."""
    import torch
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    text = LlamaConfig(
        vocab_size=64,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    cfg = LlavaConfig(vision_config=tiny_vision_config(), text_config=text, image_token_index=63)
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    tiny_clip_processor().image_processor.save_pretrained(out)
    return out


def random_images(n: int, seed: int = 0, size: int = 48):
    """Distinct noise images; different sizes exercise the processors' resizing."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (size + i % 3, size, 3), dtype=np.uint8))
        for i in range(n)
    ]


def write_images(root: Path, images) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        p = root / f"img-{i:03d}.png"
        img.save(p)
        paths.append(p)
    return paths
