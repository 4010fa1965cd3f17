"""Which checkpoint a run continues from, and refusing to continue a different run.

`resume="auto"` continues from the last whole `checkpoint-N` in the checkpoints folder, so a
killed run started again picks up where it stopped; a folder the kill tore mid-save (no
trainer_state.json, which the Trainer writes last) is passed over. A checkpoint written
under other settings (another lr, stage, freezing...) is not that run: continuing it would
mix two experiments, or finish at once and export the old model under the new name. That
is an error that names the changed keys; `resume="never"` starts afresh and clears the old
checkpoints first, so a later "auto" cannot pick a stale one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from vit.train.config import TrainConfig

TRAIN_CONFIG_FILE = "vitflow_train_config.json"
TRAINER_STATE = "trainer_state.json"  # transformers writes it last in a checkpoint
# Keys a continued run may change: how long it runs and how it reports, not what it learns.
CONTINUABLE = {
    "resume",
    "output_dir",
    "epochs",
    "max_steps",
    "early_stopping_patience",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    "logging_steps",
    "num_workers",
    "encode_cache",
}


def config_changes(checkpoint: Path, config: TrainConfig) -> list[str]:
    """Keys whose value differs from the TrainConfig saved in `checkpoint` (none saved: [])."""
    saved_path = Path(checkpoint) / TRAIN_CONFIG_FILE
    if not saved_path.exists():
        return []
    saved: dict[str, Any] = json.loads(saved_path.read_text())
    now = json.loads(json.dumps(config.to_dict()))  # tuples -> lists, as saved
    # A field added since the checkpoint was written was, then, its default behaviour.
    default = json.loads(json.dumps(type(config)().to_dict()))
    return sorted(k for k in now.keys() - CONTINUABLE if saved.get(k, default[k]) != now[k])


def resume_point(config: TrainConfig, output_dir: Path, main_process: bool = True) -> str | None:
    """The checkpoint to continue from: the last one in output_dir under 'auto'."""
    output_dir = Path(output_dir)
    if config.resume == "never":
        if main_process:
            clear_checkpoints(output_dir)
        return None
    if config.resume != "auto":
        return config.resume
    last = last_whole_checkpoint(output_dir)
    if last:
        changed = config_changes(Path(last), config)
        if changed:
            raise ValueError(
                f"{last} was written with other settings ({', '.join(changed)}); "
                "set resume='never' to start afresh (clears its checkpoints) or another out"
            )
    return last


def last_whole_checkpoint(output_dir: Path) -> str | None:
    """The newest checkpoint-N the Trainer finished writing (transformers' own
    get_last_checkpoint returns a torn one, and resuming from it then fails every time)."""
    steps = {}
    for ckpt in Path(output_dir).glob("checkpoint-*"):
        step = ckpt.name.removeprefix("checkpoint-")
        if step.isdigit() and (ckpt / TRAINER_STATE).is_file():
            steps[int(step)] = ckpt
    return str(steps[max(steps)]) if steps else None


def clear_checkpoints(output_dir: Path) -> None:
    for ckpt in Path(output_dir).glob("checkpoint-*"):
        if ckpt.is_dir():
            shutil.rmtree(ckpt)
