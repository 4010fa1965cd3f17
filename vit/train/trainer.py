"""The transformers Trainer with vitflow's two additions, and the callbacks `train` uses.

- `create_optimizer`: AdamW over per-module parameter groups, each with its own learning
  rate (vision, projector, lm, and the joint head), no weight decay on biases and norms.
- `_get_train_sampler`: batches of similar length when `group_by_length` is on
  (vit.train.sampler), from the dataset's own length proxy.
- `compute_loss`: lambda_text x the model's loss, plus lambda_img x the image term when the
  joint objective is on (vit.train.joint), plus lambda_patch x the dense patch loss; in the
  vision stage the patch loss alone, from the tower (vit.train.vision).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from vit.train.config import TrainConfig
from vit.train.freeze import param_groups
from vit.train.joint import find_head, image_loss, image_token_id
from vit.train.patch_head import PATCH_HEAD, capture_patch_features, patch_loss
from vit.train.resume import TRAIN_CONFIG_FILE
from vit.train.sampler import LengthGroupedByEpoch
from vit.train.vision import tower_forward


class VitTrainer(Trainer):
    def __init__(self, *args: Any, vit_config: TrainConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.vit_config = vit_config
        self.patches = capture_patch_features(self.model) if vit_config.lambda_patch > 0 else None

    def create_optimizer(self, model: Any = None) -> Any:
        import torch

        if self.optimizer is None:
            target = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(target))
            groups = param_groups(target, self.vit_config, decay)
            self.optimizer = torch.optim.AdamW(groups, lr=self.vit_config.lr)
        return self.optimizer

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        ds = self.train_dataset if train_dataset is None else train_dataset
        if self.vit_config.group_by_length and hasattr(ds, "lengths"):
            batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
            return LengthGroupedByEpoch(ds.lengths(), batch, self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        cfg = self.vit_config
        labels = inputs.pop("patch_labels", None)
        if cfg.stage == "vision":
            tower_forward(self.accelerator.unwrap_model(model), inputs["pixel_values"])
            loss = self.patch_term(model, labels, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss
        if cfg.lambda_img <= 0:
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
            loss = cfg.lambda_text * loss + self.patch_term(model, labels, num_items_in_batch)
            return (loss, outputs) if return_outputs else loss
        inputs = {**inputs, "output_hidden_states": True}
        text, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
        img = self.image_term(model, inputs, outputs)
        if self.text_loss_scaled_for_ga(num_items_in_batch):
            # The text loss is already a share of the accumulated batch; make this one too.
            img = img / self.current_gradient_accumulation_steps
        loss = cfg.lambda_text * text + cfg.lambda_img * img
        loss = loss + self.patch_term(model, labels, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss

    def patch_term(self, model: Any, labels: Any, num_items_in_batch: Any) -> Any:
        """lambda_patch x the dense grounding loss of this forward (0 when off or no labels)."""
        if self.patches is None or labels is None or "features" not in self.patches:
            return 0.0
        head = next(m for n, m in model.named_modules() if n.split(".")[-1] == PATCH_HEAD)
        term = patch_loss(head, self.patches.pop("features"), labels)
        if self.text_loss_scaled_for_ga(num_items_in_batch):
            term = term / self.current_gradient_accumulation_steps
        return self.vit_config.lambda_patch * term

    def text_loss_scaled_for_ga(self, num_items_in_batch: Any) -> bool:
        # The same test Trainer.training_step makes before it divides by the accumulation.
        fixed = getattr(self, "loss_is_scaled_for_ga", None)
        if fixed is not None:
            return bool(fixed)
        return bool(self.model_accepts_loss_kwargs and num_items_in_batch is not None)

    def image_term(self, model: Any, inputs: dict[str, Any], outputs: Any) -> Any:
        head = find_head(model)
        if head is None:
            raise RuntimeError("lambda_img > 0 but the model has no image head attached")
        unwrapped = self.accelerator.unwrap_model(model)
        return image_loss(
            head,
            outputs.hidden_states[-1],
            inputs["input_ids"],
            inputs.get("pixel_values"),
            image_token_id(unwrapped.config),
            self.vit_config.img_target_size,
        )


class SaveConfigCallback(TrainerCallback):
    """Writes the resolved TrainConfig into every checkpoint, so each one says how it was made."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir() and state.is_world_process_zero:
            write_config(ckpt, self.config)


class EpochCallback(TrainerCallback):
    """Tells the dataset which epoch starts (the align stage cycles captions by epoch)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(int(state.epoch or 0))


def write_config(folder: str | Path, config: TrainConfig) -> None:
    Path(folder, TRAIN_CONFIG_FILE).write_text(
        json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    )


def native_checkpoints(model: Any) -> None:
    """Make this model's checkpoints round-trip through Trainer's resume and load-best.

    transformers 5 saves LLaVA in the hub's legacy key layout ('language_model.model.*')
    by default, but Trainer reads its checkpoints back with a plain `load_state_dict`, which
    then matches no key and silently keeps the current weights. Saving in the native layout
    fixes both; `from_pretrained` reads either layout. Bound on this instance only.
    """
    import functools
    import inspect

    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel):
        return  # peft saves adapters under its own names, which load back as they are
    save = type(model).save_pretrained
    if "save_original_format" in inspect.signature(save).parameters:
        model.save_pretrained = functools.partial(save, model, save_original_format=False)
