"""Visual instruction tuning: stages, freezing, LoRA, the joint objective, resume.

    from vit.train import TrainConfig, train
    summary = train("data/model/init", "data/dedup", "data/train/align", TrainConfig(stage="align"))

Heavy imports (torch, transformers, peft) happen inside the functions.
"""

from vit.train.config import TrainConfig
from vit.train.run import train

__all__ = ["TrainConfig", "train"]
