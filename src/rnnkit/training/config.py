"""How to train: one frozen config, every default chosen to work on a 2-core CPU."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.checks import check_choice, check_int, check_range
from rnnkit.options import option
from rnnkit.training.precision import PRECISIONS
from rnnkit.training.scheduled_sampling import ScheduledSampling

OPTIMIZERS = ("adam", "sgd", "rmsprop", "nt-asgd")
SCHEDULES = ("constant", "step", "cosine", "plateau", "slanted")
ON_NONFINITE = ("stop", "skip")


@dataclass(frozen=True)
class TrainConfig:
    """How to train any task; see ``docs/training.md`` for each idea.

    Budget: ``max_steps`` and/or ``max_minutes`` (whichever is spent first); one is required.
    """

    batch_size: int = option(
        32,
        "parallel columns of the stream / examples per batch (global: split across DDP ranks)",
        low=1,
        high=65536,
    )
    bptt: int = option(
        100, "k1: steps run forward between updates (truncated-BPTT window)", low=1, high=100000
    )
    tbptt_k2: int | None = option(
        None, "k2 <= k1: steps backpropagated; default k2 = k1", low=1, high=100000
    )
    random_bptt: bool = option(
        False, "random window lengths (Merity et al. 2017), lr scaled by T/bptt"
    )
    lr: float = option(2e-3, "base learning rate", low=1e-8, high=10.0)
    optimizer: str = option(
        "adam",
        "char-rnn's rmsprop uses alpha 0.95; nt-asgd: SGD, then weight averaging from the "
        "non-monotone trigger on (Merity et al. 2017)",
        choices=OPTIMIZERS,
    )
    nt_asgd_window: int = option(
        5,
        "nt-asgd: start averaging when a validation is worse than the best before the last N",
        low=1,
        high=10**6,
    )
    ema_decay: float | None = option(
        None, "validate and keep an exponential moving average of the weights with this decay "
        "(e.g. 0.999; any optimizer but nt-asgd); 0: off", low=0.0, high=1.0, open_high=True,
        zero_is_none=True,
    )  # fmt: skip
    momentum: float = option(0.0, "SGD momentum", low=0.0, high=1.0, open_high=True)
    schedule: str = option("constant", "learning-rate schedule", choices=SCHEDULES)
    warmup_steps: int = option(0, "linear warm-up over this many updates", low=0, high=10**9)
    decay_every: int = option(1000, "step schedule: updates between decays", low=1, high=10**9)
    decay_factor: float = option(
        0.5, "step and plateau schedules: lr multiplier per decay", low=1e-6, high=1.0
    )
    min_lr_ratio: float = option(
        0.1, "cosine schedule: final lr as a fraction of lr", low=0.0, high=1.0
    )
    plateau_patience: int = option(
        2, "plateau schedule: validations without improvement before a decay", low=1, high=10**6
    )
    cut_frac: float = option(
        0.1, "slanted schedule: share of training spent raising the lr", low=0.001, high=0.999
    )
    slanted_ratio: float = option(
        32.0, "slanted schedule: how much smaller the lowest lr is than lr", low=1.0, high=1e6
    )
    discriminative_lr: float = option(
        1.0, "lr divided by this per layer group below the top (ULMFiT: 2.6; models with layer "
        "groups: classify)", low=1.0, high=100.0,
    )  # fmt: skip
    unfreeze_every: int | None = option(
        None, "gradual unfreezing: updates between unfreezing the next layer group down "
        "(ULMFiT: one epoch); 0: off", low=0, high=10**9, zero_is_none=True,
    )  # fmt: skip
    clip_norm: float | None = option(
        5.0, "global gradient-norm clipping; 0: off", low=0.0, high=1e9, zero_is_none=True
    )
    clip_value: float | None = option(
        None,
        "element-wise gradient clipping to [-v, v]; 0: off",
        low=0.0,
        high=1e9,
        zero_is_none=True,
    )
    on_nonfinite: str = option(
        "stop",
        "NaN/Inf loss or gradient: stop with an error, or skip the batch",
        choices=ON_NONFINITE,
        flag="--on-nan",
    )
    max_steps: int | None = option(None, "stop after this many updates ...", low=1, high=10**9)
    max_minutes: float | None = option(
        None, "... or after this much wall time (whichever first)", low=0.01, high=100000.0
    )
    eval_every: int = option(200, "updates between validations", low=1, high=10**9)
    eval_batch_size: int = 16  # columns used for validation
    patience: int | None = option(
        None, "early stopping: validations without improvement", low=1, high=10**6
    )
    monitor: str | None = option(
        None,
        "validation metric that picks the best model (lm: nats, bits; classify: loss, "
        "accuracy; tag: accuracy); default: the first",
    )
    log_every: int = option(
        10, "updates between train-loss records in metrics.jsonl", low=1, high=10**9
    )
    save_every: int = option(
        500, "updates between resumable checkpoints in OUT/trainer_state/", low=1, high=10**9
    )
    save_every_minutes: float | None = option(
        5.0,
        "minutes of training between resumable checkpoints, besides --save-every; 0: off",
        low=0.0,
        high=1e6,
        zero_is_none=True,
    )
    keep_last: int = option(
        3, "resumable checkpoints kept (the best model is kept apart)", low=1, high=10**6
    )
    precision: str = option(
        "fp32",
        "bf16: bfloat16 autocast (CPUs with AVX-512/AMX, CUDA); fp16: CUDA with gradient "
        "scaling; parameters and optimiser state stay float32",
        choices=PRECISIONS,
    )
    seed: int = 0  # seeds torch before the model is built, and the window lengths
    scheduled_sampling: str | None = option(
        None,
        "feed the model its own samples with a decaying teacher-forcing probability",
        choices=("linear", "exponential", "inverse_sigmoid"),
    )
    ss_k: float | None = option(
        None, "scheduled sampling: the schedule's constant k", low=0.0, high=1e9
    )
    ss_c: float | None = option(
        None, "scheduled sampling: slope of the linear schedule (default 1e-4)", low=0.0, high=1.0
    )

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("give a budget: max_steps or max_minutes")
        for name in ("batch_size", "bptt", "eval_every", "eval_batch_size", "log_every"):
            check_int(name, getattr(self, name), 1)
        for name in ("save_every", "keep_last", "decay_every", "plateau_patience"):
            check_int(name, getattr(self, name), 1)
        check_int("warmup_steps", self.warmup_steps, 0)
        for name in ("max_steps", "patience", "tbptt_k2", "unfreeze_every"):
            check_int(name, getattr(self, name), 1, optional=True)
        if self.tbptt_k2 is not None and self.tbptt_k2 > self.bptt:
            raise ValueError(f"tbptt_k2 must be in [1, bptt={self.bptt}], got {self.tbptt_k2}")
        if self.save_every_minutes is not None and not self.save_every_minutes > 0:
            raise ValueError(
                f"save_every_minutes must be > 0 or None (off), got {self.save_every_minutes!r}"
            )
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes!r}")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_int("nt_asgd_window", self.nt_asgd_window, 1)
        if self.ema_decay:
            check_range("ema_decay", self.ema_decay, 0.0, 1.0)
            if self.optimizer == "nt-asgd":
                raise ValueError("ema_decay and nt-asgd both average the weights: choose one")
        check_choice("precision", self.precision, PRECISIONS)
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
