"""Optimisers, learning-rate schedules and early stopping.

The learning rate of update ``i`` (0-based: ``i`` updates came before it) is::

    lr_i = lr * warmup(i) * decay(i)
    warmup(i) = min(1, (i + 1) / W)                      (W = warmup_steps; 1 when W = 0)
    decay(i)  = 1                                        constant
              = f ** floor(max(0, i - W) / every)        step
              = r + (1 - r) * (1 + cos(pi * p)) / 2      cosine, p = clamp((i - W) / (S - W), 0, 1)
              = f ** (decays so far)                     plateau: one decay after ``patience``
                                                         validations without improvement
              = (1 + q * (R - 1)) / R                    slanted triangular (Howard & Ruder
                  q = p / c            if p < c          2018): up for a share c = cut_frac
                  q = 1 - (p - c) / (1 - c) otherwise    of training, then down; R = ratio

with ``f = decay_factor``, ``r = min_lr_ratio`` and ``S = max_steps``; the slanted schedule's
progress is ``p = i / S`` (warm-up is its rising part: give it no ``warmup_steps``). Under a
time budget alone the cosine's and the slanted schedule's progress ``p`` is the fraction of
wall time spent. Random-length windows
multiply the result by ``T / bptt`` for that update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from rnnkit.training.config import TrainConfig

RMSPROP_ALPHA = 0.95  # char-rnn's decay rate of the squared-gradient average
PLATEAU_THRESHOLD = 1e-4  # relative improvement that counts (as torch's ReduceLROnPlateau)


def build_optimizer(parameters: Iterable[Tensor], config: TrainConfig) -> torch.optim.Optimizer:
    """Adam (default), SGD with optional momentum, or RMSprop with alpha 0.95 (char-rnn).

    ``nt-asgd`` is SGD until its trigger fires (the Trainer's :class:`NTASGD` then averages).
    """
    params = list(parameters)
    if config.optimizer in ("sgd", "nt-asgd"):
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, alpha=RMSPROP_ALPHA, eps=1e-8)
    return torch.optim.Adam(params, lr=config.lr)


def slanted(p: float, cut_frac: float, ratio: float) -> float:
    """The slanted triangular multiplier at progress ``p`` in [0, 1] (module docstring)."""
    q = p / cut_frac if p < cut_frac else 1 - (p - cut_frac) / (1 - cut_frac)
    return (1 + q * (ratio - 1)) / ratio


class LRSchedule:
    """The learning-rate curve of the module docstring; its state is two numbers (JSON)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.decays = 0  # plateau: decays applied so far
        self.bad_validations = 0  # plateau: validations since the last improvement
        self.best = math.inf

    def lr(self, i: int, time_fraction: float = 0.0) -> float:
        """Learning rate of update ``i`` (0-based); ``time_fraction`` drives a timed cosine."""
        cfg = self.config
        warmup = min(1.0, (i + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        return cfg.lr * warmup * self.decay(i, time_fraction)

    def decay(self, i: int, time_fraction: float) -> float:
        cfg = self.config
        after = max(0, i - cfg.warmup_steps)  # updates since warm-up ended
        if cfg.schedule == "step":
            return cfg.decay_factor ** (after // cfg.decay_every)
        if cfg.schedule == "cosine":
            if cfg.max_steps is not None:
                p = min(1.0, after / (cfg.max_steps - cfg.warmup_steps))
            else:
                p = min(1.0, max(0.0, time_fraction))
            r = cfg.min_lr_ratio
            return r + (1 - r) * (1 + math.cos(math.pi * p)) / 2
        if cfg.schedule == "slanted":
            p = i / cfg.max_steps if cfg.max_steps is not None else time_fraction
            return slanted(min(1.0, max(0.0, p)), cfg.cut_frac, cfg.slanted_ratio)
        if cfg.schedule == "plateau":
            return cfg.decay_factor**self.decays
        return 1.0

    def observe(self, valid_loss: float) -> None:
        """Feed a validation loss; the plateau schedule decays after ``plateau_patience`` misses."""
        if valid_loss < self.best * (1 - PLATEAU_THRESHOLD):
            self.best, self.bad_validations = valid_loss, 0
            return
        self.bad_validations += 1
        if (
            self.config.schedule == "plateau"
            and self.bad_validations >= self.config.plateau_patience
        ):
            self.decays, self.bad_validations = self.decays + 1, 0

    def state_dict(self) -> dict[str, Any]:
        best = None if math.isinf(self.best) else self.best  # strict JSON has no Infinity
        return {"decays": self.decays, "bad_validations": self.bad_validations, "best": best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decays = int(state["decays"])
        self.bad_validations = int(state["bad_validations"])
        self.best = math.inf if state["best"] is None else float(state["best"])


class EarlyStopping:
    """Stops when the validation loss has not improved for ``patience`` validations."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best = math.inf
        self.bad_validations = 0

    def observe(self, valid_loss: float) -> bool:
        """Feed a validation loss; True when training should stop."""
        if valid_loss < self.best:
            self.best, self.bad_validations = valid_loss, 0
        else:
            self.bad_validations += 1
        return self.patience is not None and self.bad_validations >= self.patience

    def state_dict(self) -> dict[str, Any]:
        best = None if math.isinf(self.best) else self.best
        return {"best": best, "bad_validations": self.bad_validations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.bad_validations = int(state["bad_validations"])
