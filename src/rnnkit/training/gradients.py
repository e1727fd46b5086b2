"""Gradient hygiene: clipping by value and by global norm, and the NaN/Inf guard."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from rnnkit.errors import RnnkitError


class NonFiniteError(RnnkitError, FloatingPointError):
    """The loss or a gradient became NaN or infinite; the message names the step."""


def clip_gradients(
    parameters: Iterable[Tensor], *, max_norm: float | None, max_value: float | None
) -> float:
    """Clip gradients in place and return their global L2 norm before norm clipping.

    First each element is clipped to ``[-max_value, max_value]`` (if given), then all
    gradients together are rescaled so their global norm is at most ``max_norm``
    (Pascanu, Mikolov & Bengio 2013): ``g <- g * min(1, max_norm / ||g||)``.
    The returned norm is NaN or infinite when some gradient is.
    """
    params = [p for p in parameters if p.grad is not None]
    if max_value is not None:
        torch.nn.utils.clip_grad_value_(params, max_value)
    limit = math.inf if max_norm is None else max_norm
    return float(torch.nn.utils.clip_grad_norm_(params, limit))


def nonfinite_reason(loss: float, grad_norm: float) -> str | None:
    """Why an update must not be applied (``"loss is nan"``...), or None when all is finite."""
    if not math.isfinite(loss):
        return f"loss is {loss}"
    if not math.isfinite(grad_norm):
        return f"gradient norm is {grad_norm}"
    return None
