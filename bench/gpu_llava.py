"""The model side of bench/gpu_train.py: a real-size LLaVA built from config, its synthetic
batch, the two training recipes and the MFU arithmetic.

    cfg = llava_config("tinyllama")              # CLIP ViT-L/14-336 + TinyLlama-1.1B dims
    model = build_model(cfg, recipes(False, "fp32")["vitflow"], "cuda")
    mfu(param_counts(model)["total"], tokens_per_s, peak_flops_for("NVIDIA H200", None))

Nothing is downloaded: every weight is random. The timing, the report and the CLI are in
bench/gpu_train.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LM_PRESETS: dict[str, dict[str, Any]] = {
    "tinyllama": dict(
        hidden_size=2048,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        intermediate_size=5632,
        vocab_size=32000,
        tie_word_embeddings=False,
    ),
    "qwen0.5b": dict(
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        vocab_size=151936,
        tie_word_embeddings=True,  # as Qwen2.5-0.5B
    ),
}
CLIP_L14_336 = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=336,
    patch_size=14,
    projection_dim=768,
)
TINY_VISION = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=28,
    patch_size=14,
    projection_dim=32,
)
TINY_LM = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    intermediate_size=64,
    vocab_size=256,
    tie_word_embeddings=False,
)
# bf16 dense tensor-core peak; first substring found in the device name wins
PEAK_TFLOPS = [
    ("H100 PCIe", 756.0),
    ("H200", 989.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
]


@dataclass(frozen=True)
class Recipe:
    name: str
    attn: str  # attn_implementation
    weights: str  # "fp32" (master weights, bf16 autocast on GPU) or "bf16"
    fused_adamw: bool
    checkpointing: bool
    compile: bool = False


def llava_config(lm: str = "tinyllama", tiny: bool = False, max_len: int = 4096) -> Any:
    """LlavaConfig of LLaVA-1.5's shape: CLIP-L/14-336, layer -2, gelu mlp2x, a Llama LM."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    text = dict(TINY_LM if tiny else LM_PRESETS[lm])
    text_cfg = LlamaConfig(**text, max_position_embeddings=max_len)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(**(TINY_VISION if tiny else CLIP_L14_336)),
        text_config=text_cfg,
        image_token_index=text["vocab_size"] - 1,  # inside the vocab: it is embedded first
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        tie_word_embeddings=text["tie_word_embeddings"],
    )
    cfg.image_seq_length = image_token_count(cfg)  # what a processor would insert
    return cfg


def vision_positions(cfg: Any) -> int:
    """Positions the vision tower runs on per image: its patches plus CLS (577 for L/14-336)."""
    v = cfg.vision_config
    return (v.image_size // v.patch_size) ** 2 + 1


def image_token_count(cfg: Any) -> int:
    """Image tokens the model scatters its features into, per image: `default` drops CLS."""
    n = vision_positions(cfg)
    return n - 1 if cfg.vision_feature_select_strategy == "default" else n


def synthetic_batch(cfg: Any, batch_size: int, seq_len: int, device: str = "cpu") -> dict:
    """Random pixels; per row the image tokens, then random text; labels -100 on the image."""
    import torch

    n_img, v = image_token_count(cfg), cfg.vision_config
    if seq_len <= n_img:
        raise SystemExit(f"--seq-len {seq_len} must exceed the {n_img} image tokens")
    g = torch.Generator().manual_seed(0)
    text = torch.randint(0, cfg.image_token_index, (batch_size, seq_len - n_img), generator=g)
    image = torch.full((batch_size, n_img), cfg.image_token_index)
    input_ids = torch.cat([image, text], dim=1)
    labels = input_ids.clone()
    labels[:, :n_img] = -100
    pixels = torch.randn(batch_size, 3, v.image_size, v.image_size, generator=g)
    batch = {"input_ids": input_ids, "labels": labels, "pixel_values": pixels}
    return {k: t.to(device) for k, t in batch.items()}


def param_counts(model: Any) -> dict[str, int]:
    """Unique parameters (tied ones once) of the whole model and of its three parts."""
    inner = model.model

    def count(*modules: Any) -> int:
        seen = {id(p): p for m in modules for p in m.parameters()}
        return sum(p.numel() for p in seen.values())

    return {
        "total": count(model),
        "vision": count(inner.vision_tower),
        "projector": count(inner.multi_modal_projector),
        "lm": count(inner.language_model, model.lm_head),
    }


def mfu(params: int, tokens_per_s: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilization: 6 x params x tokens/s over the peak (None without a peak)."""
    if not peak_flops:
        return None
    return 6 * params * tokens_per_s / peak_flops


def mfu_split(
    counts: dict[str, int], cfg: Any, seq_len: int, tokens_per_s: float, peak_flops: float | None
) -> float | None:
    """MFU with the vision tower counted on its 577 positions and the projector on its 576,
    the LM on all `seq_len` (`mfu` counts every parameter on every token)."""
    if not peak_flops:
        return None
    per_row = counts["lm"] * seq_len + counts["projector"] * image_token_count(cfg)
    per_row += counts["vision"] * vision_positions(cfg)
    return 6 * per_row * (tokens_per_s / seq_len) / peak_flops


def peak_flops_for(gpu: str, override_tflops: float | None) -> float | None:
    """bf16 dense peak FLOP/s: the override, else by GPU name; None on CPU."""
    if override_tflops:
        return override_tflops * 1e12
    if gpu == "cpu":
        return None
    for key, tflops in PEAK_TFLOPS:
        if key in gpu:
            return tflops * 1e12
    raise SystemExit(f"unknown peak FLOP/s for {gpu!r}: pass --peak-tflops")


def recipes(compile_: bool, vitflow_weights: str) -> dict[str, Recipe]:
    """LLaVA-1.5's train_mem.py runs flash attention with gradient checkpointing (`baseline`,
    here torch's SDPA flash kernels); `baseline-eager` is the same without flash attention."""
    return {
        "baseline": Recipe("baseline", "sdpa", "fp32", fused_adamw=False, checkpointing=True),
        "baseline-eager": Recipe("baseline-eager", "eager", "fp32", False, checkpointing=True),
        "vitflow": Recipe("vitflow", "sdpa", vitflow_weights, True, False, compile_),
    }


def build_model(cfg: Any, recipe: Recipe, device: str) -> Any:
    """Random-weight LLaVA on `device` (initialized there: fast on a GPU), in train mode."""
    import torch
    from transformers import LlavaForConditionalGeneration

    dtype = torch.bfloat16 if recipe.weights == "bf16" and device != "cpu" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(
            cfg, attn_implementation=recipe.attn, dtype=dtype
        )
    model.train()
    if recipe.checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)
        kwargs = {"use_reentrant": False}
        if enable is not None:
            enable(activation_checkpointing_kwargs=kwargs)
        else:  # transformers < 5.x
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return model


def make_optimizer(model: Any, recipe: Recipe) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.fused_adamw:
        return torch.optim.AdamW(params, lr=2e-5, weight_decay=0.0, fused=True)
    return torch.optim.AdamW(params, lr=2e-5, weight_decay=0.0)


def loss_fn(model: Any, autocast: bool, compile_: bool = False) -> Any:
    """batch -> loss, under bf16 autocast if asked; compiled as a whole (autocast inside)."""
    import torch

    def forward(batch: dict) -> Any:
        device_type = batch["input_ids"].device.type
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
            return model(**batch, use_cache=False).loss

    return torch.compile(forward) if compile_ else forward


def train_step(forward: Any, batch: dict, opt: Any) -> Any:
    """One full step: forward, backward, optimizer step, zero_grad; the loss (a tensor: no sync)."""
    loss = forward(batch)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss
