"""The embedding cache: reruns embed nothing, new items only themselves, models never mix."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from vit.embed import EmbeddingCache, embed_images_cached, embed_texts_cached
from vit.embed import cache as cache_mod
from vit.embed.base import Embedder, l2_normalize
from vit.embed.classical import ClassicalEmbedder


class Counting(ClassicalEmbedder):
    """The real descriptor, counting what it is asked to embed."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen = 0

    def embed_pil(self, images, progress=None):
        self.seen += len(images)
        return super().embed_pil(images, progress)


class FakeText(Embedder):
    name, key, has_images, has_texts = "fake", "fake:v1", False, True
    dim = 4

    def __init__(self):
        self.seen = 0

    def embed_texts(self, texts, progress=None):
        self.seen += len(texts)
        return l2_normalize(np.array([[len(t), t.count("a"), 1, 0] for t in texts], float))


def make_images(root, n, start=0):
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        p = root / f"im{i}.png"
        img = Image.new("RGB", (32, 32), (i * 37 % 256, i * 91 % 256, 60))
        img.paste((250, 250, 250), (i % 8, 4, i % 8 + 12, 20))  # structure: edges, layout
        img.save(p)
        paths.append(p)
    return paths


def test_second_run_embeds_nothing_and_new_images_only_themselves(tmp_path):
    paths = make_images(tmp_path / "img", 5)
    emb = Counting()
    first = embed_images_cached(emb, paths, None, tmp_path / "cache")
    assert emb.seen == 5
    again = embed_images_cached(emb, paths, None, tmp_path / "cache")
    assert emb.seen == 5
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, ClassicalEmbedder().embed_images(paths), atol=1e-6)
    more = paths + make_images(tmp_path / "img", 1, start=5)
    out = embed_images_cached(emb, more, None, tmp_path / "cache")
    assert emb.seen == 6 and out.shape == (6, emb.dim)
    np.testing.assert_array_equal(out[:5], first)


def test_caller_keys_and_repeats(tmp_path):
    paths = make_images(tmp_path / "img", 3)
    copy = shutil.copy(paths[0], tmp_path / "img" / "renamed.png")
    emb = Counting()
    embed_images_cached(emb, paths, ["k0", "k1", "k2"], tmp_path / "c")
    out = embed_images_cached(emb, [copy, paths[1], copy], ["k0", "k1", "k0"], tmp_path / "c")
    assert emb.seen == 3 and np.array_equal(out[0], out[2])
    # no keys: the file's bytes are its key, so a renamed copy is a hit, repeats embed once
    emb2 = Counting()
    embed_images_cached(emb2, [paths[0], copy, paths[0]], None, tmp_path / "d")
    assert emb2.seen == 1


def test_different_embedder_key_is_a_separate_namespace(tmp_path):
    paths = make_images(tmp_path / "img", 3)
    a, b = Counting(), Counting(weights=(1.0, 1.0, 1.0))
    xa = embed_images_cached(a, paths, None, tmp_path / "cache")
    xb = embed_images_cached(b, paths, None, tmp_path / "cache")
    assert a.seen == 3 and b.seen == 3 and not np.allclose(xa, xb)
    dirs = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(dirs) == 2 and all(d.startswith("classical-builtin-") for d in dirs)


def test_texts_are_cached_by_their_hash(tmp_path):
    emb = FakeText()
    texts = ["a cat", "banana", "a cat"]
    x = embed_texts_cached(emb, texts, cache_root=tmp_path)
    assert emb.seen == 2 and np.array_equal(x[0], x[2])
    y = embed_texts_cached(emb, ["banana", "a new one"], cache_root=tmp_path)
    assert emb.seen == 3 and np.array_equal(y[0], x[1])
    assert embed_texts_cached(emb, ["x"]).shape == (1, 4) and emb.seen == 4  # no cache_root


def test_store_round_trip_without_pickle(tmp_path):
    c = EmbeddingCache(tmp_path, "model:a/b c")
    v = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert c.put_many(["x", "y", "x"], v) == 2  # a repeated key is stored once
    assert c.put_many(["y"], v[:1]) == 0
    assert c.put_many(["odd\u2028key"], v[2:]) == 1  # a line separator only to str.splitlines
    c2 = EmbeddingCache(tmp_path, "model:a/b c")
    found, got = c2.get_many(["y", "nope", "x"])
    assert found.tolist() == [True, False, True] and len(c2) == 3 and c2.dim == 4
    assert c2.get_many(["odd\u2028key"])[0].all()
    np.testing.assert_array_equal(got[[0, 2]], v[[1, 0]])
    assert (got[1] == 0).all()
    for f in c2.dir.glob("*.npy"):
        np.load(f, allow_pickle=False)
    with pytest.raises(ValueError, match="dim"):
        c2.put_many(["z"], np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="one-line"):
        c2.put_many(["bad\nkey"], np.zeros((1, 4), np.float32))
    empty = EmbeddingCache(tmp_path, "other")
    assert empty.get_many(["x"])[1].shape == (1, 0)


def test_a_kill_keeps_finished_chunks_and_ignores_half_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "CHUNK", 2)
    emb = FakeText()
    calls = {"n": 0}
    real = emb.embed_texts

    def dies_on_third_chunk(texts, progress=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(texts, progress)

    emb.embed_texts = dies_on_third_chunk
    texts = [f"text {i}" for i in range(6)]
    with pytest.raises(KeyboardInterrupt):
        embed_texts_cached(emb, texts, cache_root=tmp_path)
    c = EmbeddingCache(tmp_path, emb.key)
    (c.dir / "shard-99999999999999999999-1.npy").write_bytes(b"half a file")  # no .keys
    assert len(EmbeddingCache(tmp_path, emb.key)) == 4
    emb.embed_texts = real
    embed_texts_cached(emb, texts, cache_root=tmp_path)
    assert emb.seen == 4 + 2


def test_compact_merges_shards_and_keeps_values(tmp_path):
    c = EmbeddingCache(tmp_path, "ns")
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((6, 3)).astype(np.float32)
    for i in range(3):
        c.put_many([f"k{2 * i}", f"k{2 * i + 1}"], vecs[2 * i : 2 * i + 2])
    assert len(list(c.dir.glob("*.keys"))) == 3
    c.compact()
    assert len(list(c.dir.glob("*.keys"))) == 1 and len(list(c.dir.glob("*.npy"))) == 1
    found, got = EmbeddingCache(tmp_path, "ns").get_many([f"k{i}" for i in range(6)])
    assert found.all()
    np.testing.assert_array_equal(got, vecs)
