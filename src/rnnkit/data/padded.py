"""Padded batches of variable-length sequences, bucketed by length.

Random batches of skewed lengths waste most of their cells on padding. Bucketing takes a
pool of ``batch_size * bucket_size`` shuffled examples, sorts the pool by length (longest
first) and cuts it into batches, so each batch holds similar lengths; shuffling the order
of the batches keeps the training order random::

    epoch e: permute (seed + e) -> pools -> sort each pool by length -> batches -> shuffle batches

Sequences must hold at least one token: the classification job maps an empty text to
``[UNK]``. Id 0 is padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

TRUNCATE_KEEP = ("head", "head_tail")


def truncate(ids: list[int], max_length: int | None, keep: str = "head") -> list[int]:
    """Cut ``ids`` to at most ``max_length`` tokens.

    Args:
        ids: token ids.
        max_length: most tokens to keep; ``None`` keeps all.
        keep: ``"head"`` keeps the first ``max_length``; ``"head_tail"`` keeps the first
            ``ceil(max_length / 2)`` and the last ``floor(max_length / 2)`` (the head half
            rounds up).

    Returns:
        A new list.
    """
    if keep not in TRUNCATE_KEEP:
        raise ValueError(f"keep must be one of {TRUNCATE_KEEP}, got {keep!r}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1 or None, got {max_length}")
    if max_length is None or len(ids) <= max_length:
        return list(ids)
    if keep == "head":
        return ids[:max_length]
    head = (max_length + 1) // 2
    tail = max_length - head
    return ids[:head] + (ids[len(ids) - tail :] if tail else [])


@dataclass
class PaddedBatch:
    """A batch of sequences padded with 0 to the longest one.

    Attributes:
        tokens: (B, T) int64 ids, 0 after each sequence's end.
        lengths: (B,) int64 true lengths, each >= 1.
        labels: (B,) int64 class ids, or ``None`` for unlabelled prediction.
        index: (B,) int64 positions of the examples in their dataset, to put outputs back
            in order.
    """

    tokens: Tensor
    lengths: Tensor
    labels: Tensor | None
    index: Tensor

    def to(self, device: torch.device | str) -> PaddedBatch:
        """A copy with every tensor on ``device``."""
        labels = None if self.labels is None else self.labels.to(device)
        return PaddedBatch(
            self.tokens.to(device), self.lengths.to(device), labels, self.index.to(device)
        )

    def __len__(self) -> int:
        return self.tokens.shape[0]


def pad_batch(
    sequences: list[list[int]], labels: list[int] | None, index: list[int]
) -> PaddedBatch:
    """Pad ``sequences`` with 0 into a (B, T) batch, T the longest length.

    Raises:
        ValueError: if a sequence is empty or the lists' lengths differ.
    """
    if not sequences:
        raise ValueError("cannot pad an empty batch")
    if len(index) != len(sequences) or (labels is not None and len(labels) != len(sequences)):
        raise ValueError("sequences, labels and index must have the same length")
    lengths = [len(s) for s in sequences]
    if 0 in lengths:
        empty = index[lengths.index(0)]
        raise ValueError(f"example {empty} is empty; give at least one token (e.g. [UNK])")
    tokens = torch.zeros(len(sequences), max(lengths), dtype=torch.long)  # (B, T)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return PaddedBatch(
        tokens=tokens,
        lengths=torch.tensor(lengths, dtype=torch.long),
        labels=None if labels is None else torch.tensor(labels, dtype=torch.long),
        index=torch.tensor(index, dtype=torch.long),
    )


def _gather(sequences: list[list[int]], labels: list[int] | None, order: list[int]) -> PaddedBatch:
    """The batch of examples ``order`` (dataset positions)."""
    batch_labels = None if labels is None else [labels[i] for i in order]
    return pad_batch([sequences[i] for i in order], batch_labels, order)


def _cut(order: list[int], lengths: list[int], batch_size: int) -> list[list[int]]:
    """Sort ``order`` longest first (ties by position, stably) and cut it into batches."""
    order = sorted(order, key=lambda i: -lengths[i])
    return [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]


class BucketBatches:
    """Endless, resumable training batches, bucketed by length.

    An epoch's batches depend only on ``seed`` and the epoch number, so
    :meth:`load_state_dict` resumes exactly. Without ``sampler_weights`` every example
    appears once per epoch; with them an epoch draws ``len(sequences)`` examples with
    replacement, with probability proportional to their weight (balanced sampling).

    Args:
        sequences: token ids per example, each non-empty (their lengths bucket the batches;
            with ``collate``, any sized items, e.g. a sentence's words).
        labels: the label of each example (a class id; a tag sequence with ``collate``).
        batch_size: examples per batch; an epoch's last batch may be smaller.
        seed: seeds epoch ``e``'s generator with ``seed + e``.
        bucket_size: batches per pool sorted by length; 1 makes batches of random lengths.
        shuffle: permute the examples and the batch order; ``False`` keeps the given
            order (each pool still sorted by length, batches in pool order).
        sampler_weights: one non-negative weight per example, or ``None``.
        collate: builds a batch from dataset positions; default: a :class:`PaddedBatch` of
            ``sequences`` and ``labels`` (:func:`pad_batch`).

    Attributes:
        epoch: the epoch of the next batch (the number of finished epochs).
        position: batches already taken from this epoch; 0 right after an epoch ends.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[Any]],
        labels: Sequence[Any],
        batch_size: int,
        *,
        seed: int,
        bucket_size: int = 50,
        shuffle: bool = True,
        sampler_weights: list[float] | None = None,
        collate: Callable[[list[int]], Any] | None = None,
    ) -> None:
        if len(labels) != len(sequences) or not sequences:
            raise ValueError(
                f"need as many labels as sequences (> 0), got {len(labels)}, {len(sequences)}"
            )
        if batch_size < 1 or bucket_size < 1:
            raise ValueError(
                f"batch_size and bucket_size must be >= 1, got {batch_size}, {bucket_size}"
            )
        if any(len(s) == 0 for s in sequences):
            raise ValueError("sequences must be non-empty; map an empty text to [UNK]")
        self.weights = (
            None
            if sampler_weights is None
            else self._check_weights(sampler_weights, len(sequences))
        )
        self.sequences, self.labels = sequences, labels
        self.collate = collate or (lambda order: _gather(sequences, labels, order))
        self.batch_size, self.bucket_size = batch_size, bucket_size
        self.seed, self.shuffle = seed, shuffle
        self.lengths = [len(s) for s in sequences]
        self.batches_per_epoch = -(-len(sequences) // batch_size)  # full pools are whole batches
        self.epoch, self.position = 0, 0
        self._plan: tuple[int, list[list[int]]] | None = None  # (epoch, batches of positions)
        self.rank, self.world_size = 0, 1  # this process's share of each batch (see shard)

    def shard(self, rank: int, world_size: int) -> None:
        """Data parallel: give this process rows ``rank::world_size`` of every global batch.

        Every process plans the same global batches. The ranks' mean losses average to the
        global batch's when ``batch_size`` divides evenly; a batch with fewer rows than processes
        gives the ones left without a row its last row again (so no process idles).
        """
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.rank, self.world_size = rank, world_size

    @staticmethod
    def _check_weights(weights: list[float], n: int) -> Tensor:
        w = torch.tensor(weights, dtype=torch.float64)  # (N,)
        if w.shape != (n,) or bool((w < 0).any()) or not float(w.sum()) > 0:
            raise ValueError(
                f"sampler_weights must be {n} non-negative numbers with a positive sum"
            )
        return w

    def epoch_plan(self, epoch: int) -> list[list[int]]:
        """Epoch ``epoch``'s batches, as lists of dataset positions."""
        n = len(self.sequences)
        g = torch.Generator().manual_seed(self.seed + epoch)
        if self.weights is not None:
            order = torch.multinomial(self.weights, n, replacement=True, generator=g).tolist()
        elif self.shuffle:
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        pool = self.batch_size * self.bucket_size
        batches = [
            b
            for lo in range(0, n, pool)
            for b in _cut(order[lo : lo + pool], self.lengths, self.batch_size)
        ]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def next_batch(self) -> Any:
        """The next batch; after an epoch's last batch, ``epoch`` grows and ``position`` is 0."""
        if self._plan is None or self._plan[0] != self.epoch:
            self._plan = (self.epoch, self.epoch_plan(self.epoch))
        order = self._plan[1][self.position]
        batch = self.collate(order[self.rank :: self.world_size] or order[-1:])
        self.position += 1
        if self.position == self.batches_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        return batch

    def state_dict(self) -> dict:
        """Where the source stands, JSON-serialisable; the checks guard against other data."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "num_examples": len(self.sequences),
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume so the next batch is the one the saved source would have given next."""
        mine = self.state_dict()
        for key in ("seed", "batch_size", "num_examples"):
            if key in state and state[key] != mine[key]:
                raise ValueError(
                    f"state was saved with {key}={state[key]}, this source has {mine[key]}"
                )
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < self.batches_per_epoch:
            raise ValueError(
                f"epoch must be >= 0 and position in [0, {self.batches_per_epoch}), "
                f"got {epoch}, {position}"
            )
        self.epoch, self.position = epoch, position


def iter_batches(
    sequences: Sequence[Sequence[Any]],
    labels: Sequence[Any] | None,
    batch_size: int,
    *,
    collate: Callable[[list[int]], Any] | None = None,
) -> Iterator[Any]:
    """Evaluation batches: every example once, longest first to waste little padding.

    Each batch's ``index`` gives its examples' positions; ``labels`` may be ``None``;
    ``collate`` as in :class:`BucketBatches`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = [len(s) for s in sequences]
    for order in _cut(list(range(len(sequences))), lengths, batch_size):
        yield collate(order) if collate is not None else _gather(sequences, labels, order)


def padding_fraction(batches: Iterable[PaddedBatch]) -> float:
    """Padded cells / all cells over ``batches``; 0.0 for no batches."""
    cells = tokens = 0
    for batch in batches:
        cells += batch.tokens.numel()
        tokens += int(batch.lengths.sum())
    return 1.0 - tokens / cells if cells else 0.0
