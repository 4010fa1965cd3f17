"""CLIP / SigLIP through transformers, on tiny checkpoints built from config and saved to tmp."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.embed import random_images, save_tiny_clip, save_tiny_siglip, write_images
from vit.embed import get_embedder
from vit.embed.clip import ClipEmbedder

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("ckpt") / "tiny-clip")


@pytest.fixture(scope="module")
def clip(clip_dir):
    return get_embedder("clip", model=clip_dir, device="cpu", batch_size=4)


def test_images_and_texts_share_one_unit_space(clip):
    assert isinstance(clip, ClipEmbedder) and clip.dim == 16
    x = clip.embed_pil(random_images(6))
    t = clip.embed_texts(["a red circle", "two blue squares on a mat", "a red circle"])
    for a in (x, t):
        assert a.dtype == np.float32 and a.shape[1] == 16
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert t[0] @ t[2] > 0.9999 and t[0] @ t[1] < 0.999
    assert len({tuple(np.round(r, 4)) for r in x}) == 6  # distinct images, distinct rows


def test_files_match_pil_and_batching_changes_nothing(clip, clip_dir, tmp_path):
    images = random_images(7, seed=3)
    paths = write_images(tmp_path, images)
    a = clip.embed_images(paths)
    b = ClipEmbedder(clip_dir, device="cpu", batch_size=64, decode_workers=1).embed_pil(images)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_key_follows_content_not_location(clip, clip_dir, tmp_path):
    moved = shutil.copytree(clip_dir, tmp_path / "elsewhere" / "tiny-clip")
    assert ClipEmbedder(moved, device="cpu").key == clip.key
    other = save_tiny_clip(tmp_path / "retrained" / "tiny-clip", seed=1)
    assert ClipEmbedder(other, device="cpu").key != clip.key
    assert ClipEmbedder(clip_dir, device="cpu", dtype="bfloat16").key != clip.key


def test_siglip_pads_texts_to_a_fixed_length(tmp_path):
    path = save_tiny_siglip(tmp_path / "tiny-siglip")
    emb = get_embedder("siglip", model=path, device="cpu")
    assert emb.model_type == "siglip" and emb.dim == 32
    x = emb.embed_pil(random_images(3))
    t = emb.embed_texts(["a cat", "a much longer sentence about a dog", "a cat"])
    assert x.shape == (3, 32) and t.shape == (3, 32)
    # fixed-length padding: a text's vector does not depend on its batch mates
    np.testing.assert_allclose(t[0], emb.embed_texts(["a cat"])[0], atol=1e-5)


def test_checkpoint_without_tokenizer_embeds_images_only(clip_dir, tmp_path):
    from transformers import CLIPImageProcessor, CLIPModel

    CLIPModel.from_pretrained(clip_dir).save_pretrained(tmp_path / "vision-only")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32).save_pretrained(
        tmp_path / "vision-only"
    )
    emb = ClipEmbedder(tmp_path / "vision-only", device="cpu")
    assert emb.embed_pil(random_images(2)).shape == (2, 16)
    with pytest.raises(NotImplementedError, match="no tokenizer"):
        emb.embed_texts(["a cat"])


def test_missing_model_fails_clearly(tmp_path):
    with pytest.raises(OSError):
        ClipEmbedder(tmp_path / "no-such-model", device="cpu")
