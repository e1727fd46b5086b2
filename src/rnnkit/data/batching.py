"""Truncated-BPTT batching of one long token stream.

The stream is cut into ``B`` contiguous columns; chunk ``k`` holds steps
``[k*bptt, (k+1)*bptt)`` of every column, so chunk ``k + 1`` continues chunk ``k``
in each column and the hidden state can be carried (detached) between chunks::

    stream  a b c d e f g h i j k l m n o p q r s t u v w x y
    B = 2   column 0: a b c d e f g h i j k l
            column 1: m n o p q r s t u v w x   (+ one target step each)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass
class Window:
    """One truncated-BPTT window of a token stream, as a language model's training batch.

    ``inputs``/``targets`` are (B, T); ``state`` is the state carried in from the previous
    window (None at the start of an epoch); ``k2`` how many of the last steps to backpropagate
    (None: all); ``lr_scale`` multiplies the learning rate of this update (random window
    lengths); ``objective`` replaces teacher forcing (e.g. scheduled sampling).
    """

    inputs: Tensor
    targets: Tensor
    state: Any = None
    k2: int | None = None
    lr_scale: float = 1.0
    objective: Callable[..., tuple[Tensor, Any]] | None = None


class StreamBatches:
    """Chunks of ``(inputs, targets)``, each (B, bptt) batch-first; the last chunk may be shorter.

    Args:
        ids: (N,) token ids of the whole stream.
        batch_size: number of parallel columns B.
        bptt: steps per chunk.
    """

    def __init__(self, ids: Tensor, batch_size: int, bptt: int) -> None:
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"batch_size and bptt must be >= 1, got {batch_size}, {bptt}")
        column_length = (len(ids) - 1) // batch_size  # inputs per column; targets need one more
        if column_length < 1:
            raise ValueError(
                f"stream of {len(ids)} tokens is too short for batch_size {batch_size}"
            )
        self.batch_size = batch_size
        self.bptt = bptt
        self.column_length = column_length
        n = batch_size * column_length
        self._inputs = ids[:n].view(batch_size, column_length)  # (B, L)
        self._targets = ids[1 : n + 1].view(batch_size, column_length)  # (B, L), shifted by one

    def __len__(self) -> int:
        return -(-self.column_length // self.bptt)

    def chunk(self, k: int) -> tuple[Tensor, Tensor]:
        """Chunk ``k``: (inputs, targets), each (B, T) with T = bptt except maybe the last."""
        lo, hi = k * self.bptt, min((k + 1) * self.bptt, self.column_length)
        return self._inputs[:, lo:hi], self._targets[:, lo:hi]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for k in range(len(self)):
            yield self.chunk(k)
