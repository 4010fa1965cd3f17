from __future__ import annotations

import pytest

from vit.model import VLMCollator, check_batch
from vit.model.build import build_processor
from vit.model.collate import IGNORE_INDEX, expected_image_tokens, generation_prompt
from vit.records import Record, UnsafePathError

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

TURNS = [
    {"from": "human", "value": "<image>\nWhat color is the circle?"},
    {"from": "gpt", "value": "The circle is red."},
    {"from": "human", "value": "How many squares are there?"},
    {"from": "gpt", "value": "There are 3 squares."},
]


def example(rid="r0", turns=TURNS, image="pil"):
    if image == "pil":
        image = Image.new("RGB", (32, 32), "red")
    return {"id": rid, "image": image, "conversations": turns}


def answers_of(turns):
    return [t["value"] for t in turns if t["from"] == "gpt"]


def labelled_texts(batch, tokenizer, row):
    """Decode each run of labelled tokens separately."""
    labels = batch["labels"][row].tolist()
    runs, cur = [], []
    for lab in [*labels, IGNORE_INDEX]:
        if lab != IGNORE_INDEX:
            cur.append(lab)
        elif cur:
            runs.append(tokenizer.decode(cur))
            cur = []
    return runs


@pytest.fixture(scope="module")
def collate(processor):
    return VLMCollator(processor, max_length=128)


def test_labels_cover_exactly_the_answers(collate, processor, tiny):
    turns1 = [TURNS[0], TURNS[1]]
    batch = collate([example("a"), example("b", turns1)])
    tok = processor.tokenizer
    assert labelled_texts(batch, tok, 0) == [f" {a}</s>" for a in answers_of(TURNS)]
    assert labelled_texts(batch, tok, 1) == [f" {a}</s>" for a in answers_of(turns1)]
    assert answers_of(TURNS) == ["The circle is red.", "There are 3 squares."]
    # nothing else is labelled: prompts, image tokens and padding are -100
    unlabelled = tok.decode(batch["input_ids"][0][batch["labels"][0] == IGNORE_INDEX])
    assert "red." not in unlabelled and "3 squares." not in unlabelled
    assert (batch["labels"][1][batch["attention_mask"][1] == 0] == IGNORE_INDEX).all()
    check_batch(batch, tiny[0].config, processor=processor)


def test_same_mask_as_the_templates_generation_markers(collate, processor):
    tok = processor.tokenizer
    msgs = [
        {"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]}
        for t in TURNS
    ]
    enc = collate.encode(
        example(
            image=None,
            turns=[
                {"from": t["from"], "value": t["value"].replace("<image>\n", "")} for t in TURNS
            ],
        )
    )
    msgs[0]["content"] = msgs[0]["content"].replace("<image>\n", "")
    ref = tok.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert enc.input_ids == list(ref["input_ids"])
    assert [lab != IGNORE_INDEX for lab in enc.labels] == [bool(m) for m in ref["assistant_masks"]]


def test_image_tokens_match_the_processor_and_the_model(collate, processor, tiny):
    model = tiny[0]
    ex = example()
    batch = collate([ex])
    n = int((batch["input_ids"][0] == model.config.image_token_id).sum())
    assert n == (32 // 8) ** 2 == expected_image_tokens(model.config)
    text = processor.apply_chat_template(
        [
            {"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]}
            for t in TURNS
        ],
        tokenize=False,
    )
    ref = processor(text=text, images=ex["image"], add_special_tokens=False)["input_ids"][0]
    assert batch["input_ids"][0].tolist() == list(ref)
    assert batch["pixel_values"].shape == (1, 3, 32, 32)
    with torch.no_grad():
        loss = model(**batch).loss
    assert torch.isfinite(loss) and loss > 0


def test_full_strategy_keeps_cls(processor):
    from tests.model.conftest import tiny_config

    cfg = tiny_config(vision_feature_select_strategy="full")
    full = build_processor(cfg, processor.tokenizer)
    batch = VLMCollator(full, max_length=128)([example()])
    n = int((batch["input_ids"][0] == full.image_token_id).sum())
    assert n == 17 == expected_image_tokens(cfg) == cfg.num_image_tokens
    check_batch(batch, cfg, image_token_id=full.image_token_id, eos_token_id=2)


def test_image_token_added_or_moved_first_as_in_llava(collate):
    missing = [{"from": "human", "value": "What color is the circle?"}, TURNS[1]]
    last = [{"from": "human", "value": "What color is the circle?\n<image>"}, TURNS[1]]
    a = collate([example(turns=missing)])["input_ids"]
    b = collate([example(turns=last)])["input_ids"]
    c = collate([example(turns=[TURNS[0], TURNS[1]])])["input_ids"]
    assert torch.equal(a, c) and torch.equal(b, c)


def test_truncation_through_image_names_the_record(processor):
    # a long system prompt pushes the image past max_length
    system = {"from": "system", "value": "circle " * 200}
    with pytest.raises(ValueError, match="record scene-0042.*image"):
        VLMCollator(processor, max_length=64)([example("scene-0042", [system, *TURNS])])
    with pytest.raises(ValueError, match="record scene-0007.*image"):
        VLMCollator(processor, max_length=10)([example("scene-0007")])


def test_truncation_drops_whole_turns(processor, tiny):
    tok = processor.tokenizer
    full = VLMCollator(processor, max_length=512)([example()])
    first_turn_len = full["labels"][0].tolist().index(2) + 1  # end of the first answer
    cut = VLMCollator(processor, max_length=first_turn_len + 3)([example("r1")])
    assert cut["input_ids"].shape[1] == first_turn_len
    assert labelled_texts(cut, tok, 0) == [" The circle is red.</s>"]
    check_batch(cut, tiny[0].config)
    with pytest.raises(ValueError, match="record r2.*first answer"):
        VLMCollator(processor, max_length=first_turn_len - 2)([example("r2")])


def test_text_only_and_mixed_batches(collate, processor, tiny):
    text_turns = [{"from": "human", "value": "Is there a star?"}, {"from": "gpt", "value": "No."}]
    only = collate([example("t", text_turns, image=None)])
    assert "pixel_values" not in only
    assert labelled_texts(only, processor.tokenizer, 0) == [" No.</s>"]
    mixed = collate([example("t", text_turns, image=None), example("i")])
    assert mixed["pixel_values"].shape[0] == 1
    check_batch(mixed, tiny[0].config)
    with torch.no_grad():
        assert torch.isfinite(tiny[0](**mixed).loss)
    with pytest.raises(ValueError, match="record t2.*no image"):
        collate([example("t2", [TURNS[0], TURNS[1]], image=None)])


def test_image_paths_under_a_root(processor, tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (32, 32), "red").save(tmp_path / "img" / "a.png")
    collate = VLMCollator(processor, max_length=128, image_root=tmp_path)
    from_path = collate([example(image="img/a.png")])
    from_pil = collate([example()])
    assert torch.equal(from_path["pixel_values"], from_pil["pixel_values"])
    rec = Record(id="r0", image="img/a.png", conversations=TURNS)
    assert torch.equal(collate([rec])["input_ids"], from_path["input_ids"])
    with pytest.raises(UnsafePathError):
        collate([example(image="../outside.png")])
    with pytest.raises(ValueError, match="record r0.*cannot read"):
        collate([example(image="img/missing.png")])


def test_bad_records(collate):
    with pytest.raises(ValueError, match="record x.*role"):
        collate([example("x", [{"from": "bot", "value": "hi"}])])
    with pytest.raises(ValueError, match="record y.*no gpt"):
        collate([example("y", [TURNS[0]])])
    two = [{"from": "human", "value": "<image> <image> what?"}, TURNS[1]]
    with pytest.raises(ValueError, match="record z.*2 <image>"):
        collate([example("z", two)])


def test_check_batch_catches_broken_batches(collate, tiny, processor):
    cfg = tiny[0].config
    good = collate([example(), example("b", [TURNS[0], TURNS[1]])])
    check_batch(good, cfg, processor=processor)
    assert generation_prompt(processor) == "ASSISTANT:"

    user_labelled = {k: v.clone() for k, v in good.items()}
    row = user_labelled["labels"][1]
    lab = (row != IGNORE_INDEX).nonzero()[:, 0]
    row[lab[0] - 1] = user_labelled["input_ids"][1, lab[0] - 1]  # the ':' of 'ASSISTANT:'
    with pytest.raises(AssertionError, match="outside an assistant turn"):
        check_batch(user_labelled, cfg, processor=processor)

    prompt_labelled = {k: v.clone() for k, v in good.items()}
    prompt_labelled["labels"][0, 1] = prompt_labelled["input_ids"][0, 1]
    with pytest.raises(AssertionError, match="before"):
        check_batch(prompt_labelled, cfg)

    short = {k: v.clone() for k, v in good.items()}
    row = short["input_ids"][0]
    row[(row == cfg.image_token_id).nonzero()[0]] = 5  # one image token lost
    with pytest.raises(AssertionError, match="image tokens"):
        check_batch(short, cfg)

    no_eos = {k: v.clone() for k, v in good.items()}
    last = int(no_eos["attention_mask"][1].sum()) - 1
    no_eos["labels"][1, last] = IGNORE_INDEX
    with pytest.raises(AssertionError, match="eos"):
        check_batch(no_eos, cfg)

    missing = {k: v for k, v in good.items() if k != "pixel_values"}
    with pytest.raises(AssertionError, match="pixel_values"):
        check_batch(missing, cfg)


def test_importing_vit_model_is_light():
    import subprocess
    import sys

    code = (
        "import sys, vit.model; "
        "heavy = {'torch', 'transformers', 'tokenizers', 'prefect'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_few_steps_fit_the_answers(tiny_dir, processor):
    """Labels wired right: the loss on a batch falls when the model trains on it."""
    from vit.model import load_model

    model, _ = load_model(tiny_dir, device="cpu")
    model.train()
    batch = VLMCollator(processor, max_length=128)([example("a"), example("b", TURNS[:2])])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# The shape of llava-hf's llava-1.5 template: list contents, no eos after answers.
HUB_STYLE_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def test_works_with_a_hub_style_template(tiny_dir, tiny):
    from transformers import AutoProcessor

    hub = AutoProcessor.from_pretrained(tiny_dir)
    hub.chat_template = HUB_STYLE_TEMPLATE
    batch = VLMCollator(hub, max_length=128)([example()])
    assert hub.tokenizer.decode(batch["input_ids"][0]).startswith("USER: <image><image>")
    runs = labelled_texts(batch, hub.tokenizer, 0)
    assert [r.strip() for r in runs] == answers_of(TURNS)
    check_batch(batch, tiny[0].config, processor=hub, require_eos=False)
    with pytest.raises(AssertionError, match="eos"):
        check_batch(batch, tiny[0].config)


def test_cached_encoding_gives_the_same_batch(processor):
    """A second pass (every example cached) equals the first and an uncached collator's."""
    red, blue = Image.new("RGB", (32, 32), "red"), Image.new("RGB", (48, 40), "blue")
    examples = [
        example("a"),
        example("b", TURNS[:2], image=blue),
        example("c", TURNS[:2], image=None)
        | {
            "conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]
        },
        example("d", TURNS, image=red),
    ]
    cached = VLMCollator(processor, max_length=128)
    first, second = cached(examples), cached(examples)
    plain = VLMCollator(processor, max_length=128, cache_size=0)(examples)
    assert len(cached._cache) == 3  # a and d share text and image size: one entry
    for batch in (second, plain):
        assert batch.keys() == first.keys()
        for key in first:
            assert torch.equal(batch[key], first[key]), key
    # the image's size is part of the key: same text, another size, another entry
    cached([example("e", TURNS, image=Image.new("RGB", (20, 20), "red"))])
    assert len(cached._cache) == 4


def test_cache_is_bounded_and_truncation_still_refuses(processor):
    collate = VLMCollator(processor, max_length=128, cache_size=2)
    for i in range(4):
        turns = [{"from": "human", "value": f"Question {i}?"}, {"from": "gpt", "value": "Yes."}]
        collate([example(f"r{i}", turns)])
    assert len(collate._cache) == 2
    # a cached example is still refused when a shorter max_length would cut its image
    collate([example("long")])
    collate.max_length = 10
    with pytest.raises(ValueError, match="record long"):
        collate([example("long")])
