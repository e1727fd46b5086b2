"""Sampling from a model one token at a time: greedy, temperature, top-k, top-p.

Model-agnostic: a model is a function ``step(tokens (B,), state) -> (log_probs (B, V), state)``.
:func:`sample_token` is the one sampler of rnnkit: sequence sampling (:mod:`.search`), the
language model's ``rnnkit sample``, scheduled sampling and professor forcing all draw with it.
:func:`iter_samples` yields a sampled sequence token by token (streaming); :func:`sample_sequence`
collects it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from rnnkit.checks import check_int, check_nonnegative
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
    float32 (one draw per row from ``generator``, see :func:`draw`); log-probs work as logits.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() if temperature == 1.0 else logits.float() / temperature
    if top_k is not None or top_p is not None:
        logits = filter_logits(logits, top_k=top_k, top_p=top_p)
    return draw(logits.softmax(-1), generator)


def draw(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One index per row of ``probs`` (B, V) -> (B,): ``torch.multinomial(probs, 1)``'s draw.

    On the CPU it is computed the way torch's multinomial computes one sample, the exponential
    race ``argmax(p / q)`` with ``q ~ Exp(1)`` drawn from ``generator`` (same index, same
    generator state after), but without multinomial's check that ``probs`` is a distribution
    (a max, a min and a host read: half its time at batch 1). The softmax of finite logits
    needs none; a row of NaN (NaN logits) gives index 0 instead of an error. Elsewhere:
    ``torch.multinomial``.
    """
    if probs.device.type != "cpu":
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    race = torch.empty_like(probs).exponential_(generator=generator)  # (B, V)
    return torch.div(probs, race, out=race).argmax(-1)


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
    threads: int | None = None,
) -> Tensor:
    """Feed ``prime`` (B, P) through ``step``, then sample ``length`` tokens -> (B, length).

    The prime conditions the state; each sampled token is fed back as the next input
    ("connect output to input and continue"). Options as :func:`iter_samples`.
    """
    options = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    tokens = iter_samples(
        step, prime, length, state=state, generator=generator, threads=threads, **options
    )
    out = list(tokens)
    return torch.stack(out, dim=1) if out else prime.new_empty(prime.shape[0], 0)


def iter_samples(
    step: Step,
    prime: Tensor,
    length: int,
    *,
    state: Any = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    threads: int | None = None,
) -> Iterator[Tensor]:
    """:func:`sample_sequence` token by token: yields each (B,) draw as soon as it is made.

    Bad options raise here, not at the first draw. ``threads``: torch's intra-op thread count
    while a step computes (1 for small batches, where a second thread only spins), restored
    before each yield so that the caller's code between draws keeps its own; None leaves it.
    """
    if prime.dim() != 2 or prime.shape[1] < 1:
        raise ValueError(f"prime must be (B, P) with at least one token, got {tuple(prime.shape)}")
    check_int("length", length, 0)
    check_nonnegative("temperature", temperature)
    check_filters(top_k, top_p)
    check_int("threads", threads, 1, optional=True)
    options = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "generator": generator}
    return _samples(step, prime, length, state, options, threads)


def _samples(
    step: Step, prime: Tensor, length: int, state: Any, options: dict, threads: int | None
) -> Iterator[Tensor]:
    """The loop of :func:`iter_samples`; no step runs after the last draw."""
    with computing(threads):
        for t in range(prime.shape[1]):
            log_probs, state = step(prime[:, t], state)  # (B, V)
    token = prime[:, -1]
    for i in range(length):
        with computing(threads):
            if i:
                log_probs, state = step(token, state)
            token = sample_token(log_probs, **options)  # (B,)
        yield token


@contextmanager
def computing(threads: int | None) -> Iterator[None]:
    """No autograd, and ``threads`` intra-op threads (None: unchanged) until the block ends."""
    before = torch.get_num_threads()
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
