"""Ask a tuned model one question about one image (greedy), as `vit chat` and `vit eval` do.

vit chat --model data/model/final --image data/raw/scenes/images/scene-000001.png "How many circles?"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def answerer(model: Any, processor: Any, max_new_tokens: int = 32):
    """A callable `answer(image, question) -> str` over a loaded model (greedy decoding)."""
    import torch

    model.eval()

    @torch.no_grad()
    def answer(image: Any, question: str) -> str:
        msgs = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
        ]
        text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        # The template writes <s> itself; the collator tokenizes the same way in training.
        inputs = processor(
            text=text, images=image.convert("RGB"), return_tensors="pt", add_special_tokens=False
        ).to(model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
        new = out[0, inputs["input_ids"].shape[1] :]
        return processor.tokenizer.decode(new, skip_special_tokens=True).strip()

    return answer


def chat(
    model_path: str | Path, image_path: str | Path, question: str, max_new_tokens: int = 64
) -> str:
    """Load a model by path or hub id and answer one question about one image."""
    from PIL import Image

    from vit.model.build import load_model

    model, processor = load_model(str(model_path))
    with Image.open(image_path) as img:
        return answerer(model, processor, max_new_tokens)(img, question)
