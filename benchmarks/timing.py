"""Interleaved, repeated timing: every row runs once per round, the median over rounds counts.

Noise from other processes hits all rows of a round alike, and the median drops the
rounds it hit hardest. Each measurement repeats a call until it lasts ``min_time``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor, nn

from rnnkit.layers.fused import kernels
from rnnkit.layers.fused.dispatch import disabled


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


def _once(call: Callable[[], None], reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        call()
    return (time.perf_counter() - start) / reps


def interleaved(
    calls: dict[str, Callable[[], None]], *, rounds: int, min_time: float
) -> dict[str, float]:
    """Median seconds per call of each entry, measured round-robin ``rounds`` times."""
    reps = {}
    for name, call in calls.items():
        call()  # warm-up: allocations, oneDNN primitive caches
        reps[name] = 1 if min_time <= 0 else math.ceil(min_time / max(_once(call, 1), 1e-6))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            samples[name].append(_once(calls[name], reps[name]))
    return {name: statistics.median(times) for name, times in samples.items()}
