"""Training: the Trainer, truncated BPTT, clipping, checkpoints."""

from rnnkit.training.trainer import TrainConfig, Trainer, evaluate

__all__ = ["TrainConfig", "Trainer", "evaluate"]
