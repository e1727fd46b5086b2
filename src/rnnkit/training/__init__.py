"""Training: the Trainer, truncated BPTT, clipping, schedules, checkpoints, data parallelism."""

from rnnkit.training.gradients import NonFiniteError
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.trainer import TrainConfig, Trainer, evaluate

__all__ = ["NonFiniteError", "TrainConfig", "Trainer", "evaluate", "read_metrics"]
