"""Greedy decoding and ancestral sampling of whole sequences over the ``Step`` contract.

Both run every example of the batch side by side: the first input of each row is ``bos``; each
step turns the row's log-probs (N, V) into one token (argmax, or a draw from
:func:`~rnnkit.decoding.sampling.sample_token`, the one sampler) which is the next input. A row
that emits ``eos`` is finished and leaves the batch (``reorder`` drops it from the state), so a
row's result never depends on the others. Scores are the model's log-probs (before temperature
or top-k/top-p filtering): ``score == log_prob``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.state import reorder_state
from rnnkit.checks import check_int, check_nonnegative
from rnnkit.decoding.sampling import check_filters, sample_token
from rnnkit.decoding.step import (
    Attention,
    Hypothesis,
    Reorder,
    Step,
    check_lengths,
    forbid_eos,
    state_device,
    to_hypotheses,
)

__all__ = ["greedy", "sample"]


def greedy(
    step: Step,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_length: int,
    min_length: int = 0,
    reorder: Reorder = reorder_state,
    attention: Attention | None = None,
) -> list[Hypothesis]:
    """The most likely next token at every step, for each of ``batch_size`` rows of ``state``.

    Returns one :class:`Hypothesis` per row (``score == log_prob``); see :func:`decode`.
    """
    return decode(
        step,
        state,
        lambda log_probs: log_probs.argmax(-1),
        batch_size=batch_size,
        bos=bos,
        eos=eos,
        max_length=max_length,
        min_length=min_length,
        reorder=reorder,
        attention=attention,
    )


def sample(
    step: Step,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_length: int,
    min_length: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    attention: Attention | None = None,
    reorder: Reorder = reorder_state,
) -> list[Hypothesis]:
    """Draw each next token from ``softmax(filter(log_probs / temperature))`` (temperature 0:
    greedy), with :func:`~rnnkit.decoding.sampling.sample_token`; one hypothesis per row.

    The log-prob and score of a hypothesis are the model's, not the tempered or filtered ones.
    """
    check_nonnegative("temperature", temperature)
    check_filters(top_k, top_p)

    def pick(log_probs: Tensor) -> Tensor:
        return sample_token(
            log_probs, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
        )

    return decode(
        step,
        state,
        pick,
        batch_size=batch_size,
        bos=bos,
        eos=eos,
        max_length=max_length,
        min_length=min_length,
        reorder=reorder,
        attention=attention,
    )


@torch.no_grad()
def decode(
    step: Step,
    state: Any,
    pick: Callable[[Tensor], Tensor],
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_length: int,
    min_length: int,
    reorder: Reorder,
    attention: Attention | None,
) -> list[Hypothesis]:
    """Feed each row its own ``pick(log_probs (N, V)) -> (N,)`` until ``eos`` or ``max_length``.

    ``rows`` (N,) maps the live rows of the state to their examples; finished rows are dropped
    with ``reorder``. ``eos`` is at -inf while fewer than ``min_length`` tokens are generated.
    """
    check_int("batch_size", batch_size, 1)
    check_int("bos", bos, 0)
    check_int("eos", eos, 0)
    check_lengths(max_length, min_length)
    device = state_device(state)
    rows = torch.arange(batch_size, device=device)  # (N,) example of each live row
    tokens = torch.full((batch_size,), bos, dtype=torch.long, device=device)  # (N,)
    history = torch.zeros(batch_size, max_length, dtype=torch.long, device=device)  # (B, L)
    lengths = torch.full((batch_size,), max_length, dtype=torch.long, device=device)  # (B,)
    log_prob = torch.zeros(batch_size, device=device)  # (B,)
    weights = None  # (B, L, S) once the first step shows S
    for t in range(max_length):
        log_probs, state = step(tokens, state)  # (N, V)
        log_probs = forbid_eos(log_probs.float(), eos, t, min_length)
        tokens = pick(log_probs)  # (N,)
        history[rows, t] = tokens
        log_prob[rows] += log_probs.gather(1, tokens[:, None])[:, 0]
        if attention is not None:
            step_weights = attention(state)  # (N, S)
            if weights is None:
                weights = step_weights.new_zeros(batch_size, max_length, step_weights.shape[-1])
            weights[rows, t] = step_weights
        ended = tokens == eos  # (N,)
        lengths[rows[ended]] = t + 1
        if ended.all():
            break
        if ended.any():  # the finished rows leave the batch
            keep = (~ended).nonzero()[:, 0]  # (N',)
            rows, tokens, state = rows[keep], tokens[keep], reorder(state, keep)
    finished = history.gather(1, (lengths - 1)[:, None])[:, 0] == eos
    return to_hypotheses(history, lengths, log_prob, log_prob, finished, weights)
