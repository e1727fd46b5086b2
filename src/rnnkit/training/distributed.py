"""Data-parallel training over ``torch.distributed`` (launched by ``torchrun``).

Every rank holds the same model. The global batch of ``B`` stream columns is split into
disjoint shares of ``B / world_size`` columns, one per rank; after each backward pass the
gradients (and the loss) are averaged across ranks with one ``all_reduce``, so every rank
applies the same update and the model stays identical everywhere. Because each rank's loss is
the mean over an equal share of tokens, the averaged gradient is the gradient of the mean
loss over the whole global batch: training equals single-process training on ``B`` columns
up to floating-point summation order. Rank 0 alone validates, writes checkpoints, logs and
draws the progress bar; it also keeps the clock, so every rank stops at the same update.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from rnnkit.errors import RnnkitError


class DistributedError(RnnkitError, ValueError):
    """The distributed setup cannot run this configuration."""


def init_from_environment(backend: str = "gloo") -> Workers:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``...).

    Without ``WORLD_SIZE > 1`` in the environment this does nothing (one process).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Workers.current()


@dataclass(frozen=True)
class Workers:
    """This process's place among the data-parallel ranks (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def current(cls) -> Workers:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def columns(self, batch_size: int) -> slice:
        """This rank's disjoint share of the ``batch_size`` global columns."""
        if batch_size % self.world_size:
            raise DistributedError(
                f"batch_size {batch_size} must be divisible by the {self.world_size} processes"
            )
        share = batch_size // self.world_size
        return slice(self.rank * share, (self.rank + 1) * share)

    def average_gradients(self, parameters: Sequence[Tensor]) -> None:
        """Replace every gradient by its mean over ranks (one flat ``all_reduce``)."""
        if self.world_size == 1:
            return
        for p in parameters:
            if p.grad is None:  # every rank must send the same layout
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in parameters:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over ranks, in float64."""
        if self.world_size == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def broadcast(self, value: float) -> float:
        """Rank 0's ``value`` on every rank."""
        if self.world_size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, 0)
        return t.item()

    def broadcast_parameters(self, parameters: Sequence[Tensor]) -> None:
        """Copy rank 0's parameters to every rank."""
        if self.world_size > 1:
            with torch.no_grad():
                for p in parameters:
                    dist.broadcast(p, 0)

    def gather(self, tensor: Tensor) -> list[Tensor]:
        """Every rank's ``tensor`` (same shape on all ranks), in rank order."""
        if self.world_size == 1:
            return [tensor]
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return parts

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()
