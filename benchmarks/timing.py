"""Interleaved, repeated timing: every row runs once per round, the median over rounds counts.

Noise from other processes hits all rows of a round alike, and the median drops the
rounds it hit hardest. Each measurement repeats a call until it lasts ``min_time``.

A ratio between two rows is taken round by round (the same round's two times, so what a
round's noise does to both cancels), and reported as the median of the per-round ratios
with their min–max. :func:`timed_rounds` keeps adding rounds until every watched ratio is
pinned: the distribution-free 95 % confidence interval of its median (binomial order
statistics, :func:`median_interval`) lies within ± ``tolerance`` of the median, or a round
or time limit is reached.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.layers.fused import kernels
from rnnkit.layers.fused.dispatch import disabled

_clock = time.perf_counter  # tests substitute a fake clock

#: Rounds before the stopping rule is consulted: from 6 on, min–max covers the median
#: with at least 95 % probability.
MIN_ROUNDS = 6


@contextmanager
def _torch_ops() -> Iterator[None]:
    """The fused loops on torch ops instead of the compiled step kernels."""
    kernels.ENABLED = False
    try:
        yield
    finally:
        kernels.ENABLED = True


PATHS = {"fused": nullcontext, "torch_ops": _torch_ops, "step_loop": disabled}


def make_call(model: nn.Module, x: Tensor, *, train: bool, path: str) -> Callable[[], None]:
    """One forward (+ backward of ``output.sum()`` when ``train``), in train or eval mode.

    ``path``: ``fused`` (the default dispatch), ``torch_ops`` (fused loops without the
    compiled kernels) or ``step_loop`` (fused paths off: the generic loop over cell.step).
    """
    model.train(train)
    params = list(model.parameters())

    def call() -> None:
        with PATHS[path]():
            if train:
                output, _ = model(x)
                output.sum().backward()
                for p in params:
                    p.grad = None
            else:
                with torch.no_grad():
                    model(x)

    return call


@dataclass(frozen=True)
class Spread:
    """A median with the min–max it was taken over."""

    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.2f}× ({self.low:.2f}–{self.high:.2f})"


@dataclass(frozen=True)
class Timings:
    """Seconds per call of each row, one sample per interleaved round.

    ``settled``: every watched ratio met the stopping rule (None: a fixed number of rounds);
    ``seconds``: wall time of the rounds.
    """

    samples: dict[str, list[float]]
    settled: bool | None = None
    seconds: float = 0.0

    @property
    def rounds(self) -> int:
        return min((len(s) for s in self.samples.values()), default=0)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratios(self, base: str, name: str) -> list[float]:
        """``base``'s time over ``name``'s, round by round (above 1: ``name`` is faster)."""
        return [b / t for b, t in zip(self.samples[base], self.samples[name], strict=False)]

    def ratio(self, base: str, name: str) -> Spread:
        r = self.ratios(base, name)
        return Spread(statistics.median(r), min(r), max(r))


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median: sorted values k and n+1-k
    (1-based) for the largest k whose binomial coverage 1 - 2 P(Bin(n, 1/2) < k) is at
    least ``level``; min–max when no k reaches it (n < 6 at 95 %)."""
    xs, n = sorted(values), len(values)
    k, below = 1, 0.0  # below = P(Bin(n, 1/2) <= k - 1)
    while k < n / 2:
        below += math.comb(n, k - 1) / 2**n
        if 1 - 2 * (below + math.comb(n, k) / 2**n) < level:
            break
        k += 1
    return xs[k - 1], xs[n - k]


def pinned(ratios: list[float], tolerance: float) -> bool:
    """Whether the median's confidence interval lies within ± ``tolerance`` of it."""
    mid = statistics.median(ratios)
    low, high = median_interval(ratios)
    return mid - low <= tolerance * mid and high - mid <= tolerance * mid


def _once(call: Callable[[], None], reps: int) -> float:
    start = _clock()
    for _ in range(reps):
        call()
    return (_clock() - start) / reps


def _repetitions(calls: dict[str, Callable[[], None]], min_time: float) -> dict[str, int]:
    """Warm each call up once (allocations, oneDNN primitive caches, the fused path
    choice) and count the repetitions that make a measurement last ``min_time``."""
    reps = {}
    for name, call in calls.items():
        call()
        reps[name] = 1 if min_time <= 0 else math.ceil(min_time / max(_once(call, 1), 1e-6))
    return reps


def timed_rounds(
    calls: dict[str, Callable[[], None]],
    *,
    min_time: float,
    rounds: int | None = None,
    watch: Sequence[tuple[str, str]] = (),
    tolerance: float = 0.05,
    max_rounds: int = 30,
    time_cap: float = 180.0,
) -> Timings:
    """Time every call once per round, rounds interleaved in rotating order.

    Args:
        calls: name -> a call to time.
        min_time: repeat a call within one measurement until it lasts this long.
        rounds: exactly this many rounds; None: adaptive, from :data:`MIN_ROUNDS` until
            every ``(base, name)`` ratio of ``watch`` is :func:`pinned` to ``tolerance``,
            ``max_rounds`` rounds are done, or the rounds took ``time_cap`` seconds.
    """
    reps = _repetitions(calls, min_time)
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    start, settled = _clock(), None
    limit = rounds if rounds is not None else max(max_rounds, MIN_ROUNDS)
    for r in range(limit):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            samples[name].append(_once(calls[name], reps[name]))
        if rounds is not None or r + 1 < MIN_ROUNDS:
            continue
        timings = Timings(samples)
        settled = all(pinned(timings.ratios(b, n), tolerance) for b, n in watch)
        if settled or _clock() - start >= time_cap:
            break
    return Timings(samples, settled, _clock() - start)


def interleaved(
    calls: dict[str, Callable[[], None]], *, rounds: int, min_time: float
) -> dict[str, float]:
    """Median seconds per call of each entry, measured round-robin ``rounds`` times."""
    timings = timed_rounds(calls, min_time=min_time, rounds=rounds)
    return {name: timings.median(name) for name in calls}
