"""An endless, resumable source of freshly generated batches (the Trainer's source contract).

Batch i (0-based) is ``make(batch_size, generator)`` with a ``torch.Generator`` seeded
``seed * 1_000_003 + i``: every batch is new, no batch depends on the ones before it, and the
source's whole state is its position ``i``. So ``state_dict()`` is one number and a resumed run
draws exactly the batches the uninterrupted one would have drawn. (Torch's CPU generator keeps
a seed's low 32 bits: two runs' batches stay distinct for seeds below 4,294.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.checks import check_int

SEED_STRIDE = 1_000_003  # batch i of seed s uses the generator seed s * SEED_STRIDE + i
#: the fixed validation draws start 2^31 seeds past the training batches' (torch's CPU
#: generator keeps only the low 32 bits of a seed, so the offset must differ modulo 2^32)
VALID_SEED_OFFSET = 2**31


class SequenceBatch(NamedTuple):
    """One batch of a long-range task.

    Attributes:
        x: inputs, (B, T, D) float or (B, T) int64 token ids.
        y: targets: (B,) for a whole-sequence target, (B, T) ids per step, or (B, L, bits).
        mask: (T,) bool, the steps whose outputs line up with ``y`` (NTM copy), else None.
    """

    x: Tensor
    y: Tensor
    mask: Tensor | None = None


#: ``make(batch_size, generator) -> batch``
MakeBatch = Callable[[int, torch.Generator], Any]


class SyntheticBatches:
    """Endless fresh batches: batch i comes from a generator seeded ``seed * 1_000_003 + i``.

    Args:
        make: ``make(batch_size, generator) -> batch``; must draw only from ``generator``.
        batch_size: B, sequences per batch.
        seed: the run's seed (>= 0).
        epoch_batches: batches that count as one epoch (the Trainer logs ``epoch``); a
            generated task has no natural epoch, so this is a bookkeeping unit only.
    """

    def __init__(
        self, make: MakeBatch, batch_size: int, *, seed: int = 0, epoch_batches: int = 1000
    ) -> None:
        self.make = make
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        self.epoch_batches = check_int("epoch_batches", epoch_batches, 1)
        self.position = 0  # batches drawn so far

    def generator(self, index: int) -> torch.Generator:
        """The generator of batch ``index``."""
        return torch.Generator().manual_seed(self.seed * SEED_STRIDE + index)

    def next_batch(self) -> Any:
        """Batch number ``position``; then the position moves on by one."""
        batch = self.make(self.batch_size, self.generator(self.position))
        self.position += 1
        return batch

    @property
    def epoch(self) -> int:
        """Completed epochs of ``epoch_batches`` batches."""
        return self.position // self.epoch_batches

    @property
    def sequences(self) -> int:
        """Training sequences drawn so far: position × B."""
        return self.position * self.batch_size

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position = check_int("position", state["position"], 0)


def fixed_batches(
    make: MakeBatch, count: int, batch_size: int, *, seed: int = 0, first: int = 0
) -> list[Any]:
    """``count`` batches for validation, drawn from seeds no training batch uses.

    Batch j uses the seed ``seed * 1_000_003 + 2^31 + first + j``; give separate sets
    (say, one per length) separate ``first`` so that they do not share draws.
    """
    check_int("count", count, 1)
    start = seed * SEED_STRIDE + VALID_SEED_OFFSET + check_int("first", first, 0)
    return [make(batch_size, torch.Generator().manual_seed(start + i)) for i in range(count)]
