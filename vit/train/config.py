"""TrainConfig: the knobs of `vit train` (params.yaml `train`), TRL style.

from vit.config import build, section
cfg = build(TrainConfig, section("train"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vit.config import param_field as _f

STAGES = ("vision", "align", "instruct")
MODULES = ("vision", "projector", "lm")


@dataclass
class TrainConfig:
    """One training stage: what learns, how fast, for how long, and where it is saved."""

    stage: str = _f(
        "instruct",
        "'vision' (the tower alone, on the boxes' dense labels; vit.train.vision), 'align'"
        " (captions, descriptions) or 'instruct' (conversations)",
    )
    epochs: float = _f(1.0, "passes over the training split (max_steps wins when > 0)")
    max_steps: int = _f(-1, "optimizer steps to run; -1 = derived from epochs")
    lr: float = _f(2e-4, "peak learning rate (AdamW)")
    vision_lr: float | None = _f(None, "vision tower learning rate; None = lr")
    projector_lr: float | None = _f(None, "projector learning rate; None = lr")
    lm_lr: float | None = _f(None, "language model learning rate; None = lr")
    weight_decay: float = _f(0.0, "AdamW decoupled weight decay (not on biases and norms)")
    warmup_ratio: float = _f(0.03, "fraction of the steps spent warming the lr up from 0")
    lr_scheduler: str = _f("cosine", "transformers scheduler name: cosine, linear, constant...")
    batch_size: int = _f(8, "examples per device per forward pass")
    grad_accum: int = _f(1, "forward passes per optimizer step")
    group_by_length: bool = _f(
        False,
        "batch examples of similar length (less padding; vit.train.sampler); the order"
        " within each batch of 50 batches follows length, not chance",
    )
    max_length: int = _f(256, "longest sequence in tokens; longer ones lose whole turns")
    dropout: float = _f(0.0, "attention dropout of the language model")
    freeze: str | list[str] = _f(
        "auto",
        "'auto' (scratch: all learn; pretrained: align = projector only, instruct = projector"
        " + lm) or a list of modules to freeze among vision, projector, lm",
    )
    freeze_top_n: int = _f(0, "> 0: of the language model, train only its top N layers")
    from_scratch: bool | None = _f(
        None, "treat the model as randomly initialised; None = vitflow_model.json says so"
    )
    lora: bool = _f(False, "train LoRA adapters on the language model instead of its weights")
    lora_r: int = _f(16, "LoRA rank")
    lora_alpha: int = _f(32, "LoRA scale numerator (scale = alpha / r)")
    lora_dropout: float = _f(0.05, "dropout on the LoRA path")
    lora_targets: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj"], "language-model linear layers that get LoRA"
    )
    bf16: str | bool = _f("auto", "bf16 mixed precision; 'auto' = on when CUDA supports it")
    torch_compile: bool = _f(
        False,
        "torch.compile the model (Trainer's torch_compile): on an H200, 42% against 35% MFU"
        " in bench/gpu_train.py, after a minute or two of compiling (the first batch of a"
        " new length compiles once more, with dynamic shapes)",
    )
    eval_steps: int = _f(50, "evaluate the validation split every N steps")
    early_stopping_patience: int = _f(3, "stop after N evaluations without a better eval_loss")
    save_steps: int = _f(50, "write a checkpoint every N steps")
    save_total_limit: int | None = _f(3, "checkpoints kept (the best one is always kept)")
    logging_steps: int = _f(10, "log the loss every N steps")
    num_workers: int = _f(0, "dataloader worker processes")
    encode_cache: int = _f(
        100_000,
        "tokenized examples the collator keeps (LRU; 0 = off): later epochs skip the chat"
        " template, about a fifth of a CPU step (bench/train_step.py)",
    )
    seed: int = _f(0, "seed for initialisation of new parts, data order and dropout")
    lambda_text: float = _f(1.0, "weight of the next-token loss")
    lambda_img: float = _f(0.0, "weight of the low-resolution image reconstruction loss; 0 = off")
    img_target_size: int = _f(8, "side of the low-resolution image the joint head predicts")
    lambda_patch: float = _f(
        0.0,
        "weight of the dense grounding loss (each patch predicts its object's color, shape"
        " and size from the records' boxes; vit.train.patch_head); 0 = off",
    )
    patch_position: bool = _f(
        False,
        "the patch head also predicts each patch's row and column, so a from-scratch tower"
        " keeps where a patch is (it drops it otherwise; keeping it did not make the demo's"
        " 3-layer LM answer sides: README, 'Where a patch is')",
    )
    hflip: bool = _f(
        True, "vision stage: mirror every other epoch (per image), labels flipped with it"
    )
    output_dir: str = _f("", "checkpoints folder; '' = OUT/checkpoints")
    resume: str = _f("auto", "'auto' = continue from the last checkpoint, 'never', or a path")

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage {self.stage!r}: choose from {STAGES}")
        if isinstance(self.freeze, str) and self.freeze != "auto":
            self.freeze = [m.strip() for m in self.freeze.split(",") if m.strip()]
        if not isinstance(self.freeze, str):
            bad = sorted(set(self.freeze) - set(MODULES))
            if bad:
                raise ValueError(f"freeze: unknown modules {bad}; choose from {MODULES}")
        if isinstance(self.lora_targets, str):
            self.lora_targets = [t.strip() for t in self.lora_targets.split(",") if t.strip()]
        if self.lambda_text < 0 or self.lambda_img < 0 or self.lambda_patch < 0:
            raise ValueError("lambda_text, lambda_img and lambda_patch must be >= 0")
        if self.stage == "vision" and self.lambda_patch <= 0:
            raise ValueError(
                "stage 'vision' learns from the dense patch loss alone: set lambda_patch > 0"
            )
        if self.stage == "vision" and (self.lora or self.lambda_img > 0):
            raise ValueError("stage 'vision' trains the tower only: no lora, no lambda_img")

    def module_lr(self, module: str) -> float:
        """The learning rate of one module group."""
        lr = {"vision": self.vision_lr, "projector": self.projector_lr, "lm": self.lm_lr}[module]
        return self.lr if lr is None else lr

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
