"""Sampling from a model one token at a time: greedy, temperature, top-k, top-p.

Model-agnostic: a model is a function ``step(tokens (B,), state) -> (log_probs (B, V), state)``.
:func:`sample_token` is the one sampler of rnnkit: sequence sampling (:mod:`.search`), the
language model's ``rnnkit sample``, scheduled sampling and professor forcing all draw with it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.checks import check_int
from rnnkit.decoding.step import Step


def check_filters(top_k: int | None, top_p: float | None) -> None:
    """``top_k`` None or an integer >= 1; ``top_p`` None or in (0, 1]; else a ValueError."""
    if top_k is not None:
        check_int("top_k", top_k, 1)
    number = isinstance(top_p, (int, float)) and not isinstance(top_p, bool)
    if top_p is not None and not (number and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be a number in (0, 1], got {top_p!r}")


def filter_logits(
    logits: Tensor, *, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Set to -inf every logit outside the top ``k`` / the smallest set with mass >= ``p``.

    (B, V) -> (B, V). Top-k keeps ties with the k-th logit; top-p (applied after top-k) keeps,
    in descending order, every token whose preceding mass is < ``p`` (so at least the best one).
    """
    check_filters(top_k, top_p)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        mass_before = sorted_logits.softmax(-1).cumsum(-1) - sorted_logits.softmax(-1)
        drop_sorted = mass_before >= top_p  # keeps at least the most likely token
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_token(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token per row of ``logits`` (B, V) -> (B,); temperature 0 is greedy argmax.

    The draw is ``torch.multinomial(softmax(filter_logits(logits / T)), 1, generator)`` in
    float32 (one draw per row from ``generator``); log-probs work as logits.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() if temperature == 1.0 else logits.float() / temperature
    logits = filter_logits(logits, top_k=top_k, top_p=top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def sample_sequence(
    step: Step,
    prime: Tensor,
    length: int,
    *,
    state: Any = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Feed ``prime`` (B, P) through ``step``, then sample ``length`` tokens -> (B, length).

    The prime conditions the state; each sampled token is fed back as the next input
    ("connect output to input and continue").
    """
    if prime.shape[1] < 1:
        raise ValueError("prime must hold at least one token")
    for t in range(prime.shape[1]):
        log_probs, state = step(prime[:, t], state)  # (B, V)
    out = []
    for _ in range(length):
        token = sample_token(
            log_probs, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
        )
        out.append(token)
        log_probs, state = step(token, state)
    return torch.stack(out, dim=1) if out else prime.new_empty(prime.shape[0], 0)
