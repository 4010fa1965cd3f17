"""The vision side of a LLaVA model as an embedder, on a tiny LlavaConfig saved to tmp."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.embed import random_images, save_tiny_llava, tiny_clip_processor, write_images
from vit.embed import get_embedder
from vit.embed.vlm import VlmEmbedder

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return save_tiny_llava(tmp_path_factory.mktemp("ckpt") / "tiny-llava")


@pytest.fixture(scope="module")
def vlm(llava_dir):
    return get_embedder("vlm", model=llava_dir, device="cpu", batch_size=3)


def reference(llava_dir, images):
    """What the LM sees, computed by hand: the penultimate vision layer without CLS,
    through the projector, averaged over patches."""
    from transformers import AutoImageProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(llava_dir).eval()
    pixels = AutoImageProcessor.from_pretrained(llava_dir)(images, return_tensors="pt")
    cfg = model.config
    assert cfg.vision_feature_layer == -2 and cfg.vision_feature_select_strategy == "default"
    with torch.no_grad():
        hidden = model.model.vision_tower(pixels["pixel_values"], output_hidden_states=True)
        feats = hidden.hidden_states[-2][:, 1:]
        tokens = model.model.multi_modal_projector(feats)
    x = tokens.mean(1).numpy()
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_projector_pooling_is_what_the_language_model_sees(vlm, llava_dir):
    images = random_images(5)
    x = vlm.embed_pil(images)
    assert isinstance(vlm, VlmEmbedder) and x.shape == (5, 48) and vlm.dim == 48
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, reference(llava_dir, images), atol=1e-5)


def test_language_model_is_dropped(vlm):
    n_params = sum(p.numel() for p in vlm.net.parameters())
    lm = vlm.net.language_model
    assert isinstance(lm, torch.nn.Identity) and n_params > 0


def test_vision_pooling_and_files(llava_dir, tmp_path):
    emb = VlmEmbedder(llava_dir, device="cpu", pooling="vision")
    paths = write_images(tmp_path, random_images(4, seed=2))
    x = emb.embed_images(paths)
    assert x.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert emb.key != VlmEmbedder(llava_dir, device="cpu").key


def test_image_only_and_pooling_checked(vlm, llava_dir):
    with pytest.raises(NotImplementedError, match="images only"):
        vlm.embed_texts(["a cat"])
    with pytest.raises(ValueError, match="pooling"):
        VlmEmbedder(llava_dir, pooling="cls")


def test_checkpoint_saved_with_a_llava_processor(vlm, llava_dir, tmp_path):
    """How a tuned model is saved: weights + LlavaProcessor (tokenizer with <image>)."""
    from transformers import LlavaProcessor

    ckpt = shutil.copytree(llava_dir, tmp_path / "tuned")
    (ckpt / "preprocessor_config.json").unlink()
    parts = tiny_clip_processor()
    parts.tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    LlavaProcessor(
        image_processor=parts.image_processor, tokenizer=parts.tokenizer
    ).save_pretrained(ckpt)
    images = random_images(2)
    np.testing.assert_allclose(
        VlmEmbedder(ckpt, device="cpu").embed_pil(images), vlm.embed_pil(images), atol=1e-6
    )


def test_retraining_changes_the_key(vlm, tmp_path):
    other = save_tiny_llava(tmp_path / "tiny-llava", seed=1)
    assert VlmEmbedder(other, device="cpu").key != vlm.key


@pytest.mark.gpu
def test_cuda_bf16_matches_cpu(vlm, llava_dir):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    gpu = VlmEmbedder(llava_dir, device="cuda")
    assert gpu.torch_dtype == torch.bfloat16
    images = random_images(4)
    cos = (gpu.embed_pil(images) * vlm.embed_pil(images)).sum(1)
    assert cos.min() > 0.99
