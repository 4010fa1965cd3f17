"""The classical descriptor: shape of the output, near-duplicates found, no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vit.embed import get_embedder
from vit.embed.base import load_rgb
from vit.embed.classical import ClassicalEmbedder
from vit.sources.scenes import generate_scenes


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes")
    generate_scenes(out, n=150, seed=1, size=128, defect_rate=0.3)
    defects = [json.loads(line) for line in (out / "defects.jsonl").read_text().splitlines()]
    return out, [d for d in defects if d["kind"] == "near_duplicate"]


def clean_paths(out, n=150):
    return [out / f"images/scene-{i:06d}.png" for i in range(n)]


def test_rows_are_unit_float32_of_dim():
    emb = get_embedder("classical")
    imgs = [Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("L", (64, 64), 128)]
    imgs.append(Image.new("RGBA", (100, 50), (0, 0, 255, 128)))
    x = emb.embed_pil(imgs)
    assert isinstance(emb, ClassicalEmbedder)
    assert x.shape == (3, emb.dim) and emb.dim == 448 and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert emb.embed_pil([]).shape == (0, 448)


def test_files_and_pil_agree_and_are_deterministic(scenes):
    out, _ = scenes
    paths = clean_paths(out, 20)
    emb = ClassicalEmbedder(batch_size=7)  # batches must not change a row
    a = emb.embed_images(paths)
    b = ClassicalEmbedder().embed_pil([load_rgb(p) for p in paths])
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(a, emb.embed_images(paths))


def test_every_injected_near_duplicate_finds_its_original(scenes):
    out, near = scenes
    assert len(near) >= 5
    emb = ClassicalEmbedder()
    clean = emb.embed_images(clean_paths(out))
    dups = emb.embed_images([out / d["file"] for d in near])
    orig = np.array([int(d["of"].split("-")[1]) for d in near])
    sims = dups @ clean.T
    assert (sims.argmax(axis=1) == orig).all()
    assert sims[np.arange(len(near)), orig].min() > 0.9
    # distinct scenes sit well apart: the typical nearest other scene is far below that
    g = clean @ clean.T
    np.fill_diagonal(g, -1)
    assert np.median(g.max(axis=1)) < 0.9


def test_colors_and_shapes_are_told_apart():
    def scene(color, shape):
        img = Image.new("RGB", (128, 128), (200, 200, 200))
        from PIL import ImageDraw

        draw = ImageDraw.Draw(img)
        box = (40, 40, 90, 90)
        (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=color)
        return img

    emb = ClassicalEmbedder()
    red_c, blue_c, red_s = emb.embed_pil(
        [
            scene((220, 30, 30), "circle"),
            scene((30, 70, 220), "circle"),
            scene((220, 30, 30), "square"),
        ]
    )
    red_c2 = emb.embed_pil([scene((225, 35, 30), "circle")])[0]
    assert red_c @ red_c2 > 0.99
    assert red_c @ blue_c < 0.9 and red_c @ red_s < 0.9


def test_texts_are_refused_and_bad_files_named(tmp_path):
    emb = ClassicalEmbedder()
    with pytest.raises(NotImplementedError, match="images only"):
        emb.embed_texts(["a red circle"])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        emb.embed_images([bad])


def test_large_jpeg_uses_draft_decode(tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (2000, 1500), (30, 160, 60)).save(p, quality=90)
    x = ClassicalEmbedder().embed_images([p])
    assert x.shape == (1, 448) and np.isfinite(x).all()


def test_key_is_stable_and_tracks_config():
    assert ClassicalEmbedder().key == ClassicalEmbedder().key
    assert ClassicalEmbedder().key != ClassicalEmbedder(weights=(1.0, 1.0, 1.0)).key


def test_unknown_embedder_name_lists_the_choices():
    with pytest.raises(ValueError, match="classical"):
        get_embedder("nope")


def test_classical_never_imports_torch():
    code = (
        "import sys; from vit.embed import get_embedder; e = get_embedder('classical');"
        "from PIL import Image; e.embed_pil([Image.new('RGB', (8, 8))]);"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
