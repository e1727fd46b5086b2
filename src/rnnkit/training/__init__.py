"""Training: the Trainer, truncated BPTT, clipping, schedules, checkpoints, data parallelism,
scheduled sampling and professor forcing."""

from rnnkit.training.gradients import NonFiniteError
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.professor_forcing import HiddenStateDiscriminator, ProfessorForcing
from rnnkit.training.scheduled_sampling import ScheduledSampling, scheduled_sampling_forward
from rnnkit.training.trainer import TrainConfig, Trainer, evaluate

__all__ = [
    "HiddenStateDiscriminator",
    "NonFiniteError",
    "ProfessorForcing",
    "ScheduledSampling",
    "TrainConfig",
    "Trainer",
    "evaluate",
    "read_metrics",
    "scheduled_sampling_forward",
]
