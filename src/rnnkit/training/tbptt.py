"""Truncated backpropagation through time: a token stream as a source of windows.

The training stream is laid out as ``B`` columns (see :class:`rnnkit.data.StreamBatches`) and
read in consecutive windows. Between windows the recurrent state is carried with its values
but cut from the graph, so each update backpropagates through at most one window; the
language model's ``loss`` runs TBPTT(k1, k2) on each window (see
:mod:`rnnkit.tasks.language_model`).

Random window lengths (Merity, Keskar & Socher 2017, AWD-LSTM): each window's length is drawn
as ``bptt' = bptt`` with probability 0.95, else ``bptt / 2``, then ``T ~ N(bptt', 5)``, kept in
``[min(5, bptt), bptt + 40]``; the learning rate of that update is scaled by ``T / bptt`` so
that short and long windows weigh the same per token.
"""

from __future__ import annotations

import random
from typing import Any

from torch import Tensor

from rnnkit.data.batching import StreamBatches, Window
from rnnkit.tasks.language_model import Objective, next_token_loss
from rnnkit.training.checkpoint import python_rng_from_json, python_rng_to_json

__all__ = ["Objective", "TokenStream", "next_token_loss", "window_length"]


def window_length(rng: random.Random, bptt: int) -> int:
    """A random window length around ``bptt`` (AWD-LSTM's rule, see the module docstring)."""
    base = bptt if rng.random() < 0.95 else bptt / 2
    return max(min(5, bptt), min(bptt + 40, int(rng.gauss(base, 5))))


class TokenStream:
    """A token stream as ``B`` columns, read window after window; one pass is an epoch.

    A batch source for the :class:`~rnnkit.training.Trainer`: :meth:`next_batch` gives the next
    :class:`Window` with the carried state, and :meth:`carry` takes the state the model ends in.

    Args:
        ids: (N,) token ids.
        batch_size: the global number of columns ``B``.
        columns: the columns this process reads (a data-parallel rank's share); default all.
        bptt: k1, steps per window; k2: steps to backpropagate (None: all).
        random_bptt: random window lengths with the learning rate scaled (see above).
        seed: seeds the window lengths (the same on every rank).
        objective: the loss of a stretch of steps (None: teacher forcing).
    """

    def __init__(
        self,
        ids: Tensor,
        batch_size: int,
        *,
        columns: slice = slice(None),
        bptt: int = 100,
        k2: int | None = None,
        random_bptt: bool = False,
        seed: int = 0,
        objective: Objective | None = None,
    ) -> None:
        inputs, targets = StreamBatches(ids, batch_size, len(ids)).chunk(0)  # (B, L) each
        self.inputs, self.targets = inputs[columns], targets[columns]
        self.length = inputs.shape[1]  # L: steps per column
        self.position = 0  # steps of each column already read in this epoch
        self.epoch = 0
        self.bptt, self.k2, self.random_bptt, self.objective = bptt, k2, random_bptt, objective
        self.window_rng = random.Random(seed)
        self.carried: Any = None  # the recurrent state carried between windows

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

    def next_batch(self) -> Window:
        """The next window; a new epoch starts the stream over, and the state with it."""
        if self.exhausted:
            self.next_epoch()
            self.carried = None
        random_length = self.random_bptt
        steps = window_length(self.window_rng, self.bptt) if random_length else self.bptt
        x, y = self.read(steps)
        scale = x.shape[1] / self.bptt if random_length else 1.0
        return Window(x, y, self.carried, self.k2, scale, self.objective)

    def carry(self, state: Any) -> None:
        """Keep the state a window ended in for the next one (None: start afresh)."""
        self.carried = state

    def state_dict(self) -> dict[str, Any]:
        """The data position (JSON); the carried state is saved by the trainer, per rank."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "window_rng": python_rng_to_json(self.window_rng.getstate()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self.window_rng.setstate(python_rng_from_json(state["window_rng"]))
