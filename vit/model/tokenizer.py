"""A byte-level BPE tokenizer trained offline on the instruction corpus, with LLaVA's chat format.

    tok = train_tokenizer(texts, vocab_size=1024)
    tok.apply_chat_template([{"role": "user", "content": "<image>\\nWhat?"},
                             {"role": "assistant", "content": "A circle."}], tokenize=False)
    # '<s>USER: <image>\\nWhat? ASSISTANT: A circle.</s>'

The template renders LLaVA-1.5's turns: `USER: {q} ASSISTANT: {a}</s>` repeated, after `<s>`.
An assistant answer (with its leading space and closing `</s>`) sits inside
`{% generation %}` markers, so `return_assistant_tokens_mask=True` works too; the
collator computes its own mask and the tests check both agree. A content may be a string
(with `<image>` in it) or a list of `{"type": "image"}` / `{"type": "text", "text": ...}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

IMAGE_TOKEN = "<image>"
PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIALS = [PAD, BOS, EOS, IMAGE_TOKEN]
GENERATION_PROMPT = "ASSISTANT:"

CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}{%- for item in content -%}"
    "{%- if item['type'] == 'image' -%}{{ '<image>\\n' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ render(message['content']) }}{{ '\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ 'USER: ' }}{{ render(message['content']) }}{{ ' ' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'ASSISTANT:' }}"
    "{%- generation -%}{{ ' ' }}{{ render(message['content']) }}{{ eos_token }}"
    "{%- endgeneration -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)


def _corpus(texts: Iterable[str]) -> Iterator[str]:
    # The template's own words become tokens even if the corpus never says them.
    yield "USER: ASSISTANT: USER: ASSISTANT:"
    yield from texts


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` (any text round-trips: all 256 bytes are in it).

    Specials: `<pad>` 0, `<s>` 1, `</s>` 2, `<image>` 3 (never split, never merged).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + len(SPECIALS):
        raise ValueError(
            f"vocab_size {vocab_size} < {len(alphabet) + len(SPECIALS)} (bytes + specials)"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IMAGE_TOKEN],
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
