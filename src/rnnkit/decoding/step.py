"""The contract every decoder runs on: a ``Step``, a ``Reorder`` and the ``Hypothesis`` it returns.

A model decodes through one function ``step(tokens (N,) long, state) -> (log_probs (N, V), state)``:
the next-token log-probabilities (normalised, so every entry is <= 0) of each of ``N`` rows given
the token just fed and the state (any nesting of tensors with the batch on dim 0, e.g. a decoder
state plus encoder memory (N, S, D) and its mask (N, S)). ``reorder(state, index (N',))`` picks
rows of such a state; the default, :func:`rnnkit.cells.state.reorder_state`, walks any nesting.

Lengths count generated tokens *including* the ``eos`` that ends a hypothesis: a decoder runs at
most ``max_length`` steps, and ``eos`` is forbidden while fewer than ``min_length`` tokens have
been generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.state import flatten_state
from rnnkit.checks import check_int

#: ``step(tokens (N,) long, state) -> (log_probs (N, V) float, state)``
Step = Callable[[Tensor, Any], tuple[Tensor, Any]]
#: ``reorder(state, index (N',)) -> state`` with rows ``index`` picked (batch dim 0)
Reorder = Callable[[Any, Tensor], Any]
#: ``attention(state) -> (N, S)``, the attention weights of the step that returned ``state``
Attention = Callable[[Any], Tensor]


@dataclass
class Hypothesis:
    """One decoded sequence.

    Attributes:
        tokens: generated tokens, without ``bos`` and without the final ``eos``.
        score: the ranking score, ``log_prob / length_penalty(L)`` (greedy, sampling: log_prob).
        log_prob: sum of the log-probs of every generated token, the ``eos`` included if any.
        finished: True if it ended with ``eos``, False if it stopped at ``max_length``.
        attention: (L, S) attention weights of each generated step (the ``eos`` step included),
            when the decoder was given ``attention=``; L = len(tokens) + finished.
    """

    tokens: list[int]
    score: float
    log_prob: float
    finished: bool
    attention: Tensor | None = None


def check_lengths(max_length: int, min_length: int) -> None:
    """``max_length`` >= 1 and ``min_length`` in [0, max_length], else a one-line ValueError."""
    check_int("max_length", max_length, 1)
    check_int("min_length", min_length, 0, max_length)


def state_device(state: Any) -> torch.device:
    """The device of the first tensor in ``state`` (CPU when it holds none, e.g. None)."""
    tensors, _ = flatten_state(state)
    return tensors[0].device if tensors else torch.device("cpu")


def forbid_eos(log_probs: Tensor, eos: int, generated: int, min_length: int) -> Tensor:
    """(N, V) log-probs with ``eos`` at -inf while ``generated`` < ``min_length``."""
    if generated >= min_length:
        return log_probs
    log_probs = log_probs.clone()
    log_probs[:, eos] = float("-inf")
    return log_probs


def to_hypotheses(
    tokens: Tensor,
    lengths: Tensor,
    log_probs: Tensor,
    scores: Tensor,
    finished: Tensor,
    attention: Tensor | None,
) -> list[Hypothesis]:
    """M decoded rows -> M hypotheses; the final ``eos`` of a finished row leaves ``tokens``.

    Args:
        tokens: (M, max_length) generated tokens, the eos included, padded past ``lengths``.
        lengths: (M,) number of generated tokens L (the eos included).
        log_probs, scores: (M,) float.
        finished: (M,) bool.
        attention: (M, max_length, S) weights of each step, or None.
    """
    rows = zip(
        tokens.tolist(),
        lengths.tolist(),
        log_probs.tolist(),
        scores.tolist(),
        finished.tolist(),
        strict=True,
    )
    out = []
    for i, (row, length, log_prob, score, done) in enumerate(rows):
        weights = None if attention is None else attention[i, :length].clone()  # (L, S)
        out.append(Hypothesis(row[: length - done], score, log_prob, done, weights))
    return out
