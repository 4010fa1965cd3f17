"""The transformers backend end to end with a tiny Llama built from config, offline.

Its output is garbage (random weights, a word-level vocabulary of a few dozen words): the
parser must record parse failures and the run must finish, with every request accounted for.
"""

from __future__ import annotations

import pytest

from tests.synth._fixtures import dataset, scenes
from vit.records import Dataset
from vit.synth.backends import Request, get_backend
from vit.synth.run import SynthConfig, synthesize
from vit.synth.templates import render

CHAT = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:{% endif %}"
)
WORDS = [
    '{"conversation": [{"question": "How many circles are there?", "answer": "Two."}]}',
    "there are three red circles and a blue square to the left of the star",
    '{"description": "A small green diamond is in the top-left part of the image."}',
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<unk>", "<pad>", "<s>", "</s>"]
    tok.train_from_iterator(WORDS, trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    fast.chat_template = CHAT
    fast.save_pretrained(path)
    cfg = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)
    return str(path)


def test_backend_batches_with_the_chat_template(tiny_lm) -> None:
    rec = scenes(1)[0]
    b = get_backend("transformers", tiny_lm, batch_size=2, device="cpu")
    reqs = [
        Request(
            f"{i}".ljust(64, "0"),
            "detail",
            render("detail", rec),
            {"temperature": 0.7, "top_p": 0.9, "max_tokens": 8, "seed": i},
        )
        for i in range(3)
    ]
    seen = []
    outs = b.generate(reqs, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2]
    assert all(isinstance(o.text, str) for o in outs)
    assert all(o.tokens_in > 100 and 0 < o.tokens_out <= 8 for o in outs)


def test_garbage_output_becomes_recorded_parse_failures(tiny_lm, tmp_path) -> None:
    src = dataset(tmp_path / "src", scenes(4, seed=1), shard_size=2)
    cfg = SynthConfig(
        backend="transformers",
        model=tiny_lm,
        device="cpu",
        batch_size=4,
        max_tokens=16,
        n_per_type={"conversation": 1, "detail": 1, "reasoning": 1},
        cache_dir=str(tmp_path / "cache"),
    )
    m = synthesize(src, tmp_path / "out", cfg, progress=False)
    t = m["total"]
    assert t["requests"] == t["generated"] == 12 and t["failures"] == 0
    assert t["parse_failures"] + t["rejected"] + t["kept"] == 12
    assert t["parse_failures"] >= 10  # random weights do not write our JSON
    rows = Dataset.open(tmp_path / "out").rejects()
    assert sum(r["code"] == "parse_failed" for r in rows) == t["parse_failures"]
    assert all("raw" in r for r in rows if r["code"] == "parse_failed")
    again = synthesize(src, tmp_path / "out2", cfg, progress=False)
    assert again["run"]["sent"] == 0 and again["run"]["cache_hits"] == 12
