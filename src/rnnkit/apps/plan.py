"""Defaults read off the data, and the plan a job prints before it trains.

A preset hard-codes what fits the corpus it was tuned on (SMS messages: 100 words at most).
With no preset, a job derives the same choices from its training split instead:

- **length cap** (``max_length``): the 99th percentile of the token counts, at most
  :data:`LONG_TEXT_CAP`. Short texts are kept whole; a corpus of long documents (emails,
  reviews) is cut to a length whose epochs the time budget can pay for;
- **truncation**: ``head_tail`` when the cap cuts any text: the end of a long document (a
  signature, an unsubscribe line, a closing verdict) says as much as its start;
- **vocabulary**: every training word, at most :data:`MAX_VOCAB` entries (the most frequent).
  Keeping the words seen once measured better than dropping them (SpamAssassin validation
  loss 0.039 vs 0.046): in mail, a rare sender, list or product name decides as much as a
  common word, as a linear model's n-gram features show.

The rules use only the data, never a clock, so a seeded run derives the same settings on any
machine. The clock enters only the plan's estimate of how many epochs the budget covers
(:func:`batch_speed`, measured on the model before training).

``train tag`` and ``train seq2seq`` derive nothing (a sentence or a pair is short and kept
whole) but print the same plan: their examples' lengths, vocabularies, and the epochs the
budget covers at the speed of one real training batch (:func:`batch_speed` on the examples
nearest the median length, :func:`median_batch`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: the longest derived length cap (tokens): ~6 epochs of 5,000 emails in 8 minutes on 2 cores
LONG_TEXT_CAP = 400
#: the largest derived vocabulary (with <pad> and <unk>): 6.4 M embedding weights at width 64
MAX_VOCAB = 100_000


def percentile(values: Sequence[int], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between ranks; 0 when empty."""
    return float(np.percentile(values, q)) if len(values) else 0.0


def length_cap(lengths: Sequence[int]) -> int:
    """The derived ``max_length``: the 99th percentile of ``lengths``, at most the long cap."""
    return max(1, min(LONG_TEXT_CAP, math.ceil(percentile(lengths, 99))))


def truncation(lengths: Sequence[int], cap: int) -> str:
    """``head_tail`` if ``cap`` cuts any text, else ``head`` (nothing is cut)."""
    return "head_tail" if any(n > cap for n in lengths) else "head"


@dataclass(frozen=True)
class Plan:
    """What one epoch holds and how many epochs the budget covers (printed before training)."""

    texts: int  # training examples
    median: float  # tokens per text, before the cap
    p95: float
    vocab: int  # entries, <pad> and <unk> included
    max_length: int | None  # the cap in force (None: none)
    truncated: int  # training texts the cap cuts
    tokens_per_epoch: int  # after the cap
    batch_size: int
    max_steps: int | None
    max_minutes: float | None
    tokens_per_second: float | None = None  # measured training speed; None: not measured
    unit: str = "texts"  # what a training example is called: texts, sentences, pairs
    vocabularies: tuple[tuple[str, int], ...] = ()  # named sizes (words, tags...); (): ``vocab``
    sides: tuple[tuple[str, float, float], ...] = ()  # (side, median, p95) of each pair side

    @classmethod
    def of(
        cls,
        lengths: Sequence[int],
        vocab: int,
        max_length: int | None,
        *,
        batch_size: int,
        max_steps: int | None,
        max_minutes: float | None,
        tokens_per_second: float | None = None,
    ) -> Plan:
        cap = max_length or max(lengths, default=0)
        return cls(
            len(lengths), percentile(lengths, 50), percentile(lengths, 95), vocab, max_length,
            sum(1 for n in lengths if n > cap), sum(min(n, cap) for n in lengths),
            batch_size, max_steps, max_minutes, tokens_per_second,
        )  # fmt: skip

    def epochs(self) -> float | None:
        """Epochs the budget covers: the fewer of the step budget's and the time budget's."""
        counts = []
        if self.max_steps is not None and self.texts:
            counts.append(self.max_steps * self.batch_size / self.texts)
        if self.max_minutes is not None and self.tokens_per_second and self.tokens_per_epoch:
            counts.append(self.max_minutes * 60 * self.tokens_per_second / self.tokens_per_epoch)
        return min(counts) if counts else None

    def lines(self) -> list[str]:
        """The plan as printed: sizes, then the epoch estimate (and a warning under one)."""
        lines = [
            f"plan: {self.texts:,} training {self.unit}, {self._lengths()}; "
            f"{self._vocabulary()}{self._cap()}; {self.tokens_per_epoch:,} tokens per epoch"
        ]
        epochs = self.epochs()
        if epochs is None:
            return lines
        speed = self.tokens_per_second
        measured = f" at the measured {speed:,.0f} tokens/s" if speed else ""
        lines.append(f"plan: the budget covers about {epochs:.1f} epochs{measured}")
        if epochs < 1:
            shorter = ", or lower --max-length" if self.max_length is not None else ""
            lines.append(
                "warning: the budget covers less than one epoch; raise --max-minutes or "
                f"--max-steps{shorter}"
            )
        return lines

    def _lengths(self) -> str:
        sides = self.sides or (("", self.median, self.p95),)
        return "; ".join(
            f"{side + ' ' if side else ''}median {median:,.0f} tokens, 95th percentile {p95:,.0f}"
            for side, median, p95 in sides
        )

    def _vocabulary(self) -> str:
        if not self.vocabularies:
            return f"vocabulary {self.vocab:,}"
        return "vocabularies: " + ", ".join(f"{n:,} {name}" for name, n in self.vocabularies)

    def _cap(self) -> str:
        if self.max_length is None:
            return ""
        return f"; length cap {self.max_length:,} tokens ({self.truncated:,} {self.unit} cut)"


def median_batch(lengths: Sequence[int], batch_size: int) -> list[int]:
    """Positions of the ``batch_size`` examples whose lengths lie nearest the median (ties:
    the earlier first): a typical batch of a length-bucketed epoch."""
    median = percentile(lengths, 50)
    return sorted(range(len(lengths)), key=lambda i: (abs(lengths[i] - median), i))[:batch_size]


def batch_speed(model: torch.nn.Module, batch: Any, tokens: int) -> float:
    """``tokens`` (what ``batch`` holds) per second of one training update on ``batch``:
    ``model.loss(batch)``, backward and an Adam step (over a large embedding the update costs
    as much as a short batch's forward), the best of two timed updates after one to warm up.

    The updates run on a copy of the model and torch's random state is restored (dropout
    draws from it), so a run that measures trains exactly as one that does not. Validation
    is not counted: the estimate is an upper bound by the share of time it takes.
    """
    rng = torch.get_rng_state()
    trial = copy.deepcopy(model)
    optimizer = torch.optim.Adam(trial.parameters())
    seconds = []
    for _ in range(3):  # the first update warms up the kernels; the best of the next two counts
        start = time.perf_counter()
        loss, _ = trial.loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
    torch.set_rng_state(rng)
    return tokens / min(seconds[1:])
