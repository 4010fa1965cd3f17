"""Batches for visual instruction tuning: chat template, image tokens, assistant-only labels.

    collate = VLMCollator(processor, max_length=256, image_root=dataset.image_root)
    batch = collate([{"id": r.id, "image": r.image, "conversations": r.conversations}, ...])
    check_batch(batch, model.config)

How one example becomes a sequence:

1. LLaVA turns become chat messages (human -> user, gpt -> assistant, system -> system),
   content in the list form (`{"type": "image"}`, `{"type": "text"}`) that hub templates
   expect; the image goes first, as LLaVA puts it. A record with an image but no `<image>` in its text gets `<image>\\n` before the first
   question (LLaVA's convention); `<image>` without an image, or more than one, is an error.
2. The processor's chat template renders the whole conversation. Each answer's character
   span is found by rendering the conversation up to that answer with the generation prompt
   (the prefix) and up to the end of the answer: the span is what the answer added. This
   works for any chat template that renders prefixes stably (checked, else an error).
3. The rendered text is tokenized with offsets; a token is labelled when its last character
   lies inside an answer span, so the answer and its end-of-turn token (`</s>` in vitflow's template) are
   learned, and prompts, image tokens and padding are -100.
4. The processor expands each `<image>` into as many image tokens as the model needs; the
   labels follow by aligning the expanded ids with the unexpanded ones.

Truncation: a sequence longer than `max_length` is cut at the end of its last assistant turn
that fits (whole turns only). If its image tokens would be cut, or not even the first answer
fits, it raises `ValueError` naming the record. Never a silent cut through an image.

Encoding is cached: a run sees every example once per epoch, and rendering the chat template
(once per answer, for the spans) cost two thirds of a CPU training step's collation. The
cache maps what the text depends on (the conversations, whether there is an image and its
size) to the ids and labels before truncation, int32 arrays in an LRU of `cache_size`
entries; a hit only runs the image processor. A hit and a miss give the same batch (tested).

Text-only records (no image) are supported: they contain no image tokens and add nothing to
`pixel_values`; a batch with no image at all has no `pixel_values` key. LLaVA scatters the
image features over the image tokens of the whole batch, so mixed batches work.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vit.records import IMAGE_TOKEN, open_rgb

IGNORE_INDEX = -100
ROLE_MAP = {"human": "user", "gpt": "assistant", "system": "system"}


@dataclass
class Encoded:
    """One example as token ids before padding."""

    input_ids: list[int]
    labels: list[int]
    pixel_values: Any | None  # (1, C, H, W) tensor or None


def to_messages(conversations: Sequence[dict[str, str]], has_image: bool, rid: str) -> list[dict]:
    """LLaVA turns -> chat messages; puts `<image>` in the first question when it is missing."""
    messages = []
    for turn in conversations:
        role = ROLE_MAP.get(turn.get("from", ""))
        if role is None:
            raise ValueError(f"record {rid}: unknown turn role {turn.get('from')!r}")
        messages.append({"role": role, "content": str(turn["value"])})
    n_images = sum(m["content"].count(IMAGE_TOKEN) for m in messages)
    if not has_image and n_images:
        raise ValueError(f"record {rid}: text has {IMAGE_TOKEN} but the record has no image")
    if has_image and n_images > 1:
        raise ValueError(f"record {rid}: {n_images} {IMAGE_TOKEN} tokens for one image")
    if has_image and n_images == 0:
        first = next((m for m in messages if m["role"] == "user"), None)
        if first is None:
            raise ValueError(f"record {rid}: no human turn to put the image in")
        first["content"] = f"{IMAGE_TOKEN}\n{first['content']}"
    if not any(m["role"] == "assistant" for m in messages):
        raise ValueError(f"record {rid}: no gpt turn to learn from")
    return [{"role": m["role"], "content": content_parts(m["content"])} for m in messages]


def content_parts(text: str) -> list[dict[str, str]]:
    """`"<image>\nWhat?"` -> `[{"type": "image"}, {"type": "text", "text": "What?"}]`.

    The list form is what hub LLaVA chat templates (llava-hf) iterate over; vitflow's
    template renders it back to the same string.
    """
    if IMAGE_TOKEN not in text:
        return [{"type": "text", "text": text}]
    rest = text.replace(IMAGE_TOKEN, "", 1).strip()  # LLaVA's preprocess_multimodal too
    return [{"type": "image"}, {"type": "text", "text": rest}]


def render_with_spans(template_owner: Any, messages: list[dict], rid: str):
    """(text, [(start, end) character span of each assistant answer])."""

    def render(msgs: list[dict], gen: bool) -> str:
        return template_owner.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    text = render(messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix, upto = render(messages[:i], True), render(messages[: i + 1], False)
        if not (upto.startswith(prefix) and text.startswith(upto)):
            raise ValueError(f"record {rid}: the chat template does not render prefixes stably")
        spans.append((len(prefix), len(upto)))
    return text, spans


class VLMCollator:
    """Callable on a list of `{"id", "image" (PIL image, path or None), "conversations"}`.

    Returns `input_ids`, `attention_mask`, `labels` (long tensors, right-padded) and
    `pixel_values` (float, one row per example that has an image, in batch order).
    """

    def __init__(
        self,
        processor: Any,
        max_length: int,
        image_root: Path | None = None,
        cache_size: int = 100_000,
    ) -> None:
        self.processor = processor
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = int(max_length)
        self.image_root = None if image_root is None else Path(image_root)
        tok = self.tokenizer
        self.image_token_id = getattr(processor, "image_token_id", None)
        if self.image_token_id is None:
            self.image_token_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
        pad = tok.pad_token_id
        self.pad_token_id = pad if pad is not None else tok.eos_token_id

    def __call__(self, examples: Sequence[Any]) -> dict[str, Any]:
        import torch

        encoded = [self.encode(ex) for ex in examples]
        width = max(len(e.input_ids) for e in encoded)
        ids = torch.full((len(encoded), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(encoded), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, e in enumerate(encoded):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, :n] = torch.tensor(e.labels)
            mask[row, :n] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        pixels = [e.pixel_values for e in encoded if e.pixel_values is not None]
        if pixels:
            batch["pixel_values"] = torch.cat(pixels, dim=0)
        return batch

    def load_image(self, image: Any, rid: str):
        return open_rgb(image, rid, self.image_root)

    def encode(self, example: Any) -> Encoded:
        """Ids and labels of one example, truncated at a turn boundary or refused.

        `example` is a dict or anything with `id`, `image`, `conversations` (a Record).
        """
        if not isinstance(example, dict):
            example = {k: getattr(example, k) for k in ("id", "image", "conversations")}
        rid = str(example.get("id", "?"))
        image = self.load_image(example.get("image"), rid)
        conversations = example.get("conversations") or []
        key = _cache_key(conversations, image)
        hit = self._cache.get(key) if self.cache_size > 0 else None
        if hit is not None:
            self._cache.move_to_end(key)
            ids, labels = hit[0].tolist(), hit[1].tolist()
            pixel_values = None if image is None else self.pixel_values(image)
        else:
            ids, labels, pixel_values = self.encode_text(conversations, image, rid)
            if self.cache_size > 0:
                self.remember(key, ids, labels)
        ids, labels = self.truncate(ids, labels, rid)
        return Encoded(ids, labels, pixel_values)

    def encode_text(
        self, conversations: Sequence[dict], image: Any, rid: str
    ) -> tuple[list[int], list[int], Any]:
        """(ids, labels, pixel_values or None) through the chat template and the processor."""
        messages = to_messages(conversations, image is not None, rid)
        text, spans = render_with_spans(self.processor, messages, rid)
        tok = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        plain_ids = list(tok["input_ids"])
        # A token belongs to the answer whose span holds its last character: a space that
        # BPE glued to the next turn's first word ("ĠUSER") stays out of the labels.
        plain_labels = [
            i if any(a < e <= b for a, b in spans) else IGNORE_INDEX
            for i, (_, e) in zip(plain_ids, tok["offset_mapping"], strict=True)
        ]
        if image is None:
            return plain_ids, plain_labels, None
        out = self.processor(
            text=[text], images=[image], add_special_tokens=False, return_tensors="pt"
        )
        ids = out["input_ids"][0].tolist()
        labels = expand_labels(plain_ids, plain_labels, ids, self.image_token_id, rid)
        return ids, labels, out["pixel_values"]

    def pixel_values(self, image: Any) -> Any:
        """What the processor's image half gives for one image (a cache hit's pixels)."""
        return self.processor.image_processor(images=[image], return_tensors="pt")["pixel_values"]

    def remember(self, key: str, ids: list[int], labels: list[int]) -> None:
        import numpy as np

        self._cache[key] = (np.asarray(ids, dtype=np.int32), np.asarray(labels, dtype=np.int32))
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def truncate(self, ids: list[int], labels: list[int], rid: str) -> tuple[list, list]:
        if len(ids) <= self.max_length:
            return ids, labels
        image_pos = [i for i, t in enumerate(ids) if t == self.image_token_id]
        if image_pos and image_pos[-1] >= self.max_length:
            raise ValueError(
                f"record {rid}: {len(ids)} tokens, image tokens up to position {image_pos[-1]}, "
                f"max_length {self.max_length}: truncating would cut the image; "
                "raise max_length or shorten the text"
            )
        # The end of each assistant turn: the last labelled token of each labelled run.
        ends = [
            i + 1
            for i in range(len(labels))
            if labels[i] != IGNORE_INDEX and (i + 1 == len(labels) or labels[i + 1] == IGNORE_INDEX)
        ]
        fits = [e for e in ends if e <= self.max_length]
        if not fits:
            raise ValueError(
                f"record {rid}: {len(ids)} tokens and its first answer does not end within "
                f"max_length {self.max_length}"
            )
        return ids[: fits[-1]], labels[: fits[-1]]


def _cache_key(conversations: Sequence[dict], image: Any) -> str:
    # The image's size is in the key: some processors (LLaVA-NeXT's anyres) give an image as
    # many tokens as its size asks for, so the same text can expand differently.
    size = None if image is None else list(image.size)
    text = json.dumps([list(conversations), size], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def expand_labels(
    plain_ids: list[int], plain_labels: list[int], ids: list[int], image_id: int, rid: str
) -> list[int]:
    """Labels for the processor's ids, where each image token became a run of them."""
    labels: list[int] = []
    j = 0
    for tid, lab in zip(plain_ids, plain_labels, strict=True):
        if tid == image_id:
            start = j
            while j < len(ids) and ids[j] == image_id:
                j += 1
            if j == start:
                raise ValueError(f"record {rid}: the processor dropped an image token")
            labels.extend([IGNORE_INDEX] * (j - start))
            continue
        if j >= len(ids) or ids[j] != tid:
            raise ValueError(f"record {rid}: processor tokens differ from the tokenizer's")
        labels.append(lab)
        j += 1
    if j != len(ids):
        raise ValueError(f"record {rid}: processor added {len(ids) - j} unexpected tokens")
    return labels


def expected_image_tokens(model_config: Any) -> int:
    """Image tokens per image for a LlavaConfig (or a vitflow ModelConfig)."""
    if hasattr(model_config, "vision_config"):
        v = model_config.vision_config
        n = (v.image_size // v.patch_size) ** 2 + 1  # CLIP-style towers prepend CLS
        strategy = model_config.vision_feature_select_strategy
    else:
        n = (model_config.image_size // model_config.patch_size) ** 2 + 1
        strategy = model_config.vision_feature_select_strategy
    return n - 1 if strategy == "default" else n


def check_batch(
    batch: dict[str, Any],
    model_config: Any,
    image_token_id: int | None = None,
    eos_token_id: int | None = None,
    processor: Any = None,
    require_eos: bool = True,
) -> None:
    """Assert the LLaVA data contract on a collated batch; raises AssertionError saying what.

    - every sequence has 0 or k x (image tokens per image) image tokens, and the images
      counted that way match `pixel_values` rows;
    - labels are -100 or equal to the input id; never on image tokens or padding;
    - each labelled run (an assistant turn) starts after the sequence's image tokens and
      ends with the end-of-turn token (`eos_token_id`, from the text config when not given;
      `require_eos=False` for templates that close answers without it, as llava-hf's);
    - with `processor`: the text before each labelled run ends with the chat template's
      generation prompt (`ASSISTANT:`), i.e. every label sits inside an assistant turn.
    """
    if image_token_id is None:
        image_token_id = getattr(model_config, "image_token_id", None)
        if image_token_id is None:
            image_token_id = getattr(model_config, "image_token_index", None)
    if image_token_id is None:
        raise ValueError("check_batch needs image_token_id for this model_config")
    if eos_token_id is None:
        eos_token_id = getattr(getattr(model_config, "text_config", None), "eos_token_id", None)
    per_image = expected_image_tokens(model_config)
    marker = generation_prompt(processor) if processor is not None else None
    tokenizer = getattr(processor, "tokenizer", processor)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    n_images = 0
    for row in range(ids.shape[0]):
        seq, lab, att = ids[row].tolist(), labels[row].tolist(), mask[row].tolist()
        img = [i for i, t in enumerate(seq) if t == image_token_id and att[i]]
        assert len(img) % per_image == 0, (
            f"row {row}: {len(img)} image tokens, not a multiple of {per_image} per image"
        )
        n_images += len(img) // per_image
        runs = _labelled_runs(lab)
        for a, b in runs:
            assert all(lab[i] == seq[i] for i in range(a, b)), f"row {row}: labels != input_ids"
            assert all(att[a:b]), f"row {row}: a label on padding"
            assert not (img and a <= img[-1]), f"row {row}: a label before/on the image tokens"
            if require_eos and eos_token_id is not None:
                eos = eos_token_id if isinstance(eos_token_id, list) else [eos_token_id]
                assert seq[b - 1] in eos, f"row {row}: an assistant turn not ending in eos"
            if marker:
                before = tokenizer.decode(seq[:a], skip_special_tokens=False)
                assert before.rstrip().endswith(marker), (
                    f"row {row}: a label outside an assistant turn (after {before[-40:]!r})"
                )
    pixels = batch.get("pixel_values")
    n_pixels = 0 if pixels is None else pixels.shape[0]
    assert n_images == n_pixels, f"{n_images} images in the text, {n_pixels} in pixel_values"


def _labelled_runs(labels: list[int]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, lab in enumerate([*labels, IGNORE_INDEX]):
        if lab != IGNORE_INDEX and start is None:
            start = i
        elif lab == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    return runs


def generation_prompt(processor: Any) -> str:
    """What the chat template adds to open an assistant turn (`ASSISTANT:` for vitflow's)."""
    msgs = [{"role": "user", "content": [{"type": "text", "text": "x"}]}]
    bare = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
    gen = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    common = 0
    while common < min(len(bare), len(gen)) and bare[common] == gen[common]:
        common += 1
    return gen[common:].strip()
