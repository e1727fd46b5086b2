"""Truncated backpropagation through time: windows over a stream, carried state, TBPTT(k1, k2).

The training stream is laid out as ``B`` columns (see :class:`rnnkit.data.StreamBatches`) and
read in consecutive windows. Between windows the recurrent state is carried with its values
but cut from the graph (:func:`detach`), so each update backpropagates through at most one
window.

TBPTT(k1, k2) (Williams & Peng 1990; Sutskever 2013, sec. 2.8.6): run ``k1`` steps forward
between updates and backpropagate through the last ``k2 <= k1`` of them. The first
``k1 - k2`` steps run under ``torch.no_grad()`` (they only move the state forward); the
loss is the mean over the last ``k2`` steps, whose gradients reach back at most ``k2`` steps.
With ``k2 = k1`` this is ordinary truncated BPTT over the window.

Random window lengths (Merity, Keskar & Socher 2017, AWD-LSTM): each window's length is drawn
as ``bptt' = bptt`` with probability 0.95, else ``bptt / 2``, then ``T ~ N(bptt', 5)``, kept in
``[min(5, bptt), bptt + 40]``; the learning rate of that update is scaled by ``T / bptt`` so
that short and long windows weigh the same per token.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.state import map_state
from rnnkit.data.batching import StreamBatches

#: ``objective(model, x (B, T), y (B, T), state) -> (mean loss, state)``
Objective = Callable[[nn.Module, Tensor, Tensor, Any], tuple[Tensor, Any]]


def detach(state: Any) -> Any:
    """Cut the graph at a window boundary (truncated BPTT), keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple) and not hasattr(state, "_fields"):
        return tuple(detach(s) for s in state)
    return map_state(Tensor.detach, state)


def next_token_loss(model: nn.Module, x: Tensor, y: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Teacher forcing: mean cross-entropy of ``model(x, state)`` against targets ``y``."""
    logits, state = model(x, state)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten()), state


def tbptt_backward(
    objective: Objective, model: nn.Module, x: Tensor, y: Tensor, state: Any, *, k2: int | None
) -> tuple[Tensor, Any]:
    """One TBPTT(k1, k2) window: forward all ``k1 = T`` steps, backward through the last ``k2``.

    Args:
        objective: the loss of a stretch of steps (default :func:`next_token_loss`).
        model: the module ``objective`` runs.
        x, y: (B, T) inputs and targets of the window.
        state: the carried state (detached here) or None.
        k2: steps to backpropagate; None (or >= T): all of them.

    Returns:
        (loss over the last k2 steps, with gradients accumulated in ``model``; final state).
    """
    state = detach(state)
    steps = x.shape[1]
    prefix = 0 if k2 is None else max(0, steps - k2)
    if prefix:
        with torch.no_grad():  # the first k1 - k2 steps only carry the state forward
            _, state = objective(model, x[:, :prefix], y[:, :prefix], state)
    loss, state = objective(model, x[:, prefix:], y[:, prefix:], state)
    loss.backward()
    return loss.detach(), state


def window_length(rng: random.Random, bptt: int) -> int:
    """A random window length around ``bptt`` (AWD-LSTM's rule, see the module docstring)."""
    base = bptt if rng.random() < 0.95 else bptt / 2
    return max(min(5, bptt), min(bptt + 40, int(rng.gauss(base, 5))))


class TokenStream:
    """A token stream as ``B`` columns, read window after window; one pass is an epoch.

    Args:
        ids: (N,) token ids.
        batch_size: the global number of columns ``B``.
        columns: the columns this process reads (a data-parallel rank's share); default all.
    """

    def __init__(self, ids: Tensor, batch_size: int, *, columns: slice = slice(None)) -> None:
        inputs, targets = StreamBatches(ids, batch_size, len(ids)).chunk(0)  # (B, L) each
        self.inputs, self.targets = inputs[columns], targets[columns]
        self.length = inputs.shape[1]  # L: steps per column
        self.position = 0  # steps of each column already read in this epoch
        self.epoch = 0

    def read(self, steps: int) -> tuple[Tensor, Tensor]:
        """The next window of up to ``steps`` steps: (inputs, targets), each (B, T)."""
        lo, hi = self.position, min(self.position + steps, self.length)
        self.position = hi
        return self.inputs[:, lo:hi], self.targets[:, lo:hi]

    @property
    def exhausted(self) -> bool:
        return self.position >= self.length

    def next_epoch(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0
