"""How to train: one frozen config, every default chosen to work on a 2-core CPU."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.checks import check_choice, check_int, check_range
from rnnkit.training.scheduled_sampling import ScheduledSampling

OPTIMIZERS = ("adam", "sgd", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "plateau")
ON_NONFINITE = ("stop", "skip")


@dataclass(frozen=True)
class TrainConfig:
    """How to train any task; see ``docs/training.md`` for each idea.

    Budget: ``max_steps`` and/or ``max_minutes`` (whichever is spent first); one is required.
    """

    batch_size: int = 32  # parallel columns of the stream (global: split across DDP ranks)
    bptt: int = 100  # k1: steps run forward between updates (truncated-BPTT window)
    tbptt_k2: int | None = None  # k2 <= k1: steps backpropagated; None: k2 = k1
    random_bptt: bool = False  # random window lengths (Merity et al. 2017), lr scaled by T/bptt
    lr: float = 2e-3  # base learning rate
    optimizer: str = "adam"  # adam | sgd | rmsprop (char-rnn's: alpha 0.95)
    momentum: float = 0.0  # SGD momentum
    schedule: str = "constant"  # constant | step | cosine | plateau
    warmup_steps: int = 0  # linear warm-up over this many updates, combined with the schedule
    decay_every: int = 1000  # step schedule: updates between decays
    decay_factor: float = 0.5  # step and plateau schedules: lr multiplier per decay
    min_lr_ratio: float = 0.1  # cosine schedule: final lr as a fraction of lr
    plateau_patience: int = 2  # plateau schedule: validations without improvement before a decay
    clip_norm: float | None = 5.0  # global gradient-norm clipping; None: off
    clip_value: float | None = None  # element-wise gradient clipping to [-v, v]; None: off
    on_nonfinite: str = "stop"  # NaN/Inf loss or gradient: stop (error) | skip the batch
    max_steps: int | None = None  # stop after this many updates ...
    max_minutes: float | None = None  # ... or after this much wall time (whichever first)
    eval_every: int = 200  # updates between validations
    eval_batch_size: int = 16  # columns used for validation
    patience: int | None = None  # early stopping: validations without improvement; None: off
    monitor: str | None = None  # validation metric that picks the best model; None: the first
    log_every: int = 10  # updates between train-loss records in metrics.jsonl
    save_every: int = 500  # updates between resumable checkpoints in OUT/trainer_state/
    keep_last: int = 3  # resumable checkpoints kept (the best model is kept apart)
    seed: int = 0  # seeds torch before the model is built, and the window lengths
    scheduled_sampling: str | None = None  # linear | exponential | inverse_sigmoid; None: off
    ss_k: float | None = None  # scheduled sampling: the schedule's constant k (None: its default)
    ss_c: float | None = None  # scheduled sampling: slope of the linear schedule (None: 1e-4)

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("give a budget: max_steps or max_minutes")
        for name in ("batch_size", "bptt", "eval_every", "eval_batch_size", "log_every"):
            check_int(name, getattr(self, name), 1)
        for name in ("save_every", "keep_last", "decay_every", "plateau_patience"):
            check_int(name, getattr(self, name), 1)
        check_int("warmup_steps", self.warmup_steps, 0)
        for name in ("max_steps", "patience", "tbptt_k2"):
            check_int(name, getattr(self, name), 1, optional=True)
        if self.tbptt_k2 is not None and self.tbptt_k2 > self.bptt:
            raise ValueError(f"tbptt_k2 must be in [1, bptt={self.bptt}], got {self.tbptt_k2}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes!r}")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("on_nonfinite", self.on_nonfinite, ON_NONFINITE)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_range("decay_factor", self.decay_factor, 0.0, 1.0, high_open=False)
        check_range("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0, high_open=False)
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None (off), got {value!r}")
        self.scheduled_sampling_schedule()  # bad k or c fail here, not mid-run
        cosine_steps = self.max_steps if self.schedule == "cosine" else None
        if cosine_steps is not None and self.warmup_steps >= cosine_steps:
            raise ValueError(
                f"warmup_steps must be < max_steps={cosine_steps} for the cosine schedule, "
                f"got {self.warmup_steps}"
            )

    def scheduled_sampling_schedule(self) -> ScheduledSampling | None:
        """The configured scheduled-sampling schedule (Bengio et al. 2015), or None."""
        if self.scheduled_sampling is None:
            return None
        return ScheduledSampling(self.scheduled_sampling, k=self.ss_k, c=self.ss_c)
