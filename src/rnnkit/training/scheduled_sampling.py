r"""Teacher forcing and scheduled sampling (Bengio, Vinyals, Jaitly & Shazeer, 2015).

Teacher forcing feeds the ground-truth token ``x_t`` as the input of step ``t``; at
sampling time the model is fed its own previous output instead, a mismatch between
training and use. Scheduled sampling flips a coin for every sequence and every step
``t >= 1``::

    input_t = x_t              with probability eps_i   (teacher forcing)
    input_t = ŷ_{t-1}          otherwise                (the model's own token)

where ``ŷ_{t-1}`` is drawn from ``softmax(logits_{t-1})`` (``feedback="sample"``) or is
its argmax (``feedback="argmax"``), and ``eps_i`` decays with the training step ``i``
(the paper's three schedules, then floored at ``min_prob`` and capped at 1):

.. math::
    \text{linear:}          \quad \epsilon_i = \max(\epsilon_{min}, k - c\,i)
    \text{exponential:}     \quad \epsilon_i = k^i \quad (0 < k \le 1)
    \text{inverse sigmoid:} \quad \epsilon_i = k / (k + \exp(i / k)) \quad (k \ge 1)

The first step of every chunk always reads the ground truth ``x_0``: there is no
earlier prediction inside the chunk (with truncated BPTT the previous chunk's last
prediction is not carried over). The fed-back tokens are discrete draws: no gradient
flows through the choice of a token (the paper does the same); gradients still flow
through the recurrent state and through the embedding of whatever token was fed.

Model-agnostic: the unroll needs only ``step(tokens (B,), state) -> (logits (B, V), state)``;
:func:`logits_step` makes one from any ``model(tokens (B, T), state) -> (logits, state)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.checks import check_choice, check_range
from rnnkit.decoding.scheduled import (
    FEEDBACK,
    feedback_token,
    mix_inputs,
    scheduled_sampling_forward,
)
from rnnkit.decoding.step import Step

__all__ = [
    "FEEDBACK",
    "ScheduledSampling",
    "feedback_token",
    "logits_step",
    "mix_inputs",
    "scheduled_sampling_forward",
]
#: ``objective(model, x (B, T), y (B, T), state) -> (mean loss, state)``, the trainer's hook
Objective = Callable[[nn.Module, Tensor, Tensor, Any], tuple[Tensor, Any]]

SCHEDULES = ("linear", "exponential", "inverse_sigmoid")
DEFAULT_K = {
    "linear": 1.0,  # start at full teacher forcing
    "exponential": 0.9995,  # eps halves every ~1386 steps
    "inverse_sigmoid": 500.0,  # eps = 0.5 at i = k ln k ~ 3107 steps
}
DEFAULT_C = 1e-4  # linear slope: eps reaches 0 after 10k steps


def logits_step(model: Callable[[Tensor, Any], tuple[Tensor, Any]]) -> Step:
    """Wrap ``model(tokens (B, T), state) -> (logits (B, T, V), state)`` as a one-token step.

    The step is ``tokens (B,), state -> (logits (B, V), state)`` (raw logits, not log-probs:
    the training loss needs them as ``model(x)`` returns them).
    """

    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        logits, state = model(tokens[:, None], state)  # (B, 1, V)
        return logits[:, 0], state  # (B, V)

    return step


def inverse_sigmoid(i: float, k: float) -> float:
    """``k / (k + exp(i / k))`` computed as ``sigmoid(ln k - i / k)`` (no overflow for large i)."""
    z = math.log(k) - i / k
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class ScheduledSampling:
    """A decaying teacher-forcing probability and the chunk forward that uses it.

    Args:
        schedule: ``"linear"``, ``"exponential"`` or ``"inverse_sigmoid"`` (module docstring).
        k: the schedule's constant (None: ``DEFAULT_K[schedule]``); linear: offset in [0, 1];
            exponential: base in (0, 1]; inverse sigmoid: k >= 1 (larger decays later).
        c: slope of the linear schedule, >= 0 (None: ``DEFAULT_C``); only linear takes it.
        min_prob: floor ``eps_min`` of the probability, in [0, 1), for every schedule.
        feedback: ``"sample"`` or ``"argmax"``, how the model's own token is chosen.
    """

    def __init__(
        self,
        schedule: str = "linear",
        *,
        k: float | None = None,
        c: float | None = None,
        min_prob: float = 0.0,
        feedback: str = "sample",
    ) -> None:
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        self.k = float(DEFAULT_K[schedule] if k is None else k)
        if c is not None and schedule != "linear":
            raise ValueError(f"c is the slope of the linear schedule only, got c={c!r}")
        self.c = float(DEFAULT_C if c is None else c)
        self.min_prob = check_range("min_prob", min_prob, 0.0, 1.0)
        self.feedback = check_choice("feedback", feedback, FEEDBACK)
        self._check_k()
        if not 0.0 <= self.c < math.inf:
            raise ValueError(f"c must be a finite number >= 0, got {c!r}")

    def _check_k(self) -> None:
        k = self.k
        if self.schedule == "linear":
            check_range("k", k, 0.0, 1.0, high_open=False)
        elif self.schedule == "exponential" and not 0.0 < k <= 1.0:
            raise ValueError(f"k must be in (0, 1] for the exponential schedule, got {k!r}")
        elif self.schedule == "inverse_sigmoid" and not 1.0 <= k < math.inf:
            raise ValueError(f"k must be >= 1 for the inverse_sigmoid schedule, got {k!r}")

    def teacher_prob(self, step: int) -> float:
        """Probability ``eps_i`` of feeding the ground truth at training step ``i = step``."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step!r}")
        if self.schedule == "linear":
            eps = self.k - self.c * step
        elif self.schedule == "exponential":
            eps = self.k**step
        else:
            eps = inverse_sigmoid(step, self.k)
        return min(1.0, max(self.min_prob, eps))

    def forward_chunk(
        self,
        model: nn.Module,
        x: Tensor,
        state: Any,
        step: int,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Any]:
        """Drop-in for ``model(x, state)`` in a training step: (B, T) -> ((B, T, V), state).

        At ``teacher_prob(step) == 1`` this is exactly ``model(x, state)`` (one fused call);
        otherwise the model is unrolled one token at a time by :func:`scheduled_sampling_forward`.
        """
        p = self.teacher_prob(step)
        if p >= 1.0:
            return model(x, state)
        return scheduled_sampling_forward(
            logits_step(model), x, state, p, feedback=self.feedback, generator=generator
        )

    def objective(
        self, step: Callable[[], int], *, generator: torch.Generator | None = None
    ) -> Objective:
        """A training objective ``f(model, x, y, state) -> (mean cross-entropy, state)``.

        ``step()`` is read at every call (e.g. ``lambda: trainer.step``), so the probability
        follows the training step; the logits come from :meth:`forward_chunk`.
        """

        def scheduled_sampling_loss(
            model: nn.Module, x: Tensor, y: Tensor, state: Any
        ) -> tuple[Tensor, Any]:
            logits, state = self.forward_chunk(model, x, state, step(), generator)  # (B, T, V)
            return F.cross_entropy(logits.flatten(0, 1), y.flatten()), state

        return scheduled_sampling_loss

    def __repr__(self) -> str:
        c = f", c={self.c}" if self.schedule == "linear" else ""
        return (
            f"ScheduledSampling({self.schedule!r}, k={self.k}{c}, "
            f"min_prob={self.min_prob}, feedback={self.feedback!r})"
        )
