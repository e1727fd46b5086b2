"""Token ids and padded batches for sequence-to-sequence pairs.

A :class:`PairEncoder` holds the source and target vocabularies (built on the training pairs)
and turns pairs of token sequences into a :class:`PairBatch`. The target vocabulary adds
:data:`BOS` and :data:`EOS` (ids 2 and 3, after ``<pad>`` and ``<unk>``).

With ``pointer=True`` there is no target vocabulary: each target token must be one of the
source tokens, and its id is the position it points at, counted from 1 (0 is the end of the
sequence, which doubles as the decoder's first input), as in pointer networks (Vinyals et al.
2015). A target token that occurs several times in the source points at its first unused
occurrence, so a permutation of the source maps to distinct positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.data.padded import pad_batch
from rnnkit.data.tokenize import TokenVocab

BOS, EOS = "<s>", "</s>"
BOS_ID, EOS_ID = 2, 3  # in a target vocabulary: after <pad> (0) and <unk> (1)
POINTER_END = 0  # a pointer's "end of sequence" position, also its first input


@dataclass
class PairBatch:
    """Padded source and target ids.

    Attributes:
        source: (B, S) source ids, 0-padded.
        source_lengths: (B,) source tokens per example (>= 1).
        target: (B, T) target ids (vocabulary ids, or pointer positions 1..S), 0-padded,
            without BOS/EOS; ``None`` for prediction.
        target_lengths: (B,) target tokens per example, or ``None``.
        index: (B,) each example's position in the dataset.
    """

    source: Tensor
    source_lengths: Tensor
    target: Tensor | None
    target_lengths: Tensor | None
    index: Tensor

    def __len__(self) -> int:
        return self.source.shape[0]


def pad(rows: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Lists of ids (each non-empty) -> (B, max length) 0-padded ids and (B,) lengths."""
    batch = pad_batch([list(r) for r in rows], None, list(range(len(rows))))
    return batch.tokens, batch.lengths


def pointer_positions(source: Sequence[str], target: Sequence[str]) -> list[int] | None:
    """Positions (from 1) in ``source`` of each target token, or None if one is missing."""
    free: dict[str, list[int]] = {}
    for i, token in enumerate(source, start=1):
        free.setdefault(token, []).append(i)
    cursor = {token: 0 for token in free}
    positions = []
    for token in target:
        if token not in free:
            return None
        used = cursor[token]
        places = free[token]
        positions.append(places[min(used, len(places) - 1)])  # reuse the last if exhausted
        cursor[token] = used + 1
    return positions


@dataclass(frozen=True)
class PairEncoder:
    """Source vocabulary, target vocabulary (or pointer positions), and batching."""

    source: TokenVocab
    target: TokenVocab | None  # None: a pointer output

    @classmethod
    def build(
        cls,
        sources: Sequence[Sequence[str]],
        targets: Sequence[Sequence[str]],
        *,
        pointer: bool = False,
        min_freq: int = 1,
    ) -> PairEncoder:
        """Vocabularies of the training pairs (the target one with BOS and EOS)."""
        source = TokenVocab.build(sources, min_freq=min_freq)
        if pointer:
            return cls(source, None)
        counted = TokenVocab.build(targets, min_freq=min_freq)
        kept = [t for t in counted.itos[2:] if t not in (BOS, EOS)]
        return cls(source, TokenVocab([BOS, EOS, *kept]))

    @property
    def pointer(self) -> bool:
        return self.target is None

    @property
    def bos(self) -> int:
        return POINTER_END if self.pointer else BOS_ID

    @property
    def eos(self) -> int:
        return POINTER_END if self.pointer else EOS_ID

    def source_ids(self, tokens: Sequence[str]) -> list[int]:
        return self.source.encode(tokens) or [1]  # an empty source reads as one <unk>

    def target_ids(self, source: Sequence[str], target: Sequence[str]) -> list[int]:
        """Target ids; a pointer target not drawn from its source raises ``ValueError``."""
        if self.target is not None:
            return self.target.encode(target)
        positions = pointer_positions(source, target)
        if positions is None:
            raise ValueError("a pointer output needs every target token in its source")
        return positions

    def decode(self, source: Sequence[str], ids: Sequence[int]) -> list[str]:
        """Generated ids -> target tokens (pointer positions -> the source tokens there)."""
        if self.target is not None:
            return self.target.decode(ids)
        return [source[i - 1] if 1 <= i <= len(source) else "<unk>" for i in ids]

    def batch(
        self,
        sources: Sequence[Sequence[str]],
        targets: Sequence[Sequence[str]] | None,
        order: list[int],
    ) -> PairBatch:
        """The padded batch of the pairs at positions ``order``."""
        source, source_lengths = pad([self.source_ids(sources[i]) for i in order])
        target = target_lengths = None
        if targets is not None:
            rows = [self.target_ids(sources[i], targets[i]) for i in order]
            target, target_lengths = pad(rows)
        return PairBatch(source, source_lengths, target, target_lengths, torch.tensor(order))

    def to_dict(self) -> dict:
        target = None if self.target is None else self.target.to_dict()
        return {"source": self.source.to_dict(), "target": target}

    @classmethod
    def from_dict(cls, data: dict) -> PairEncoder:
        target = data.get("target")
        return cls(
            TokenVocab.from_dict(data["source"]),
            None if target is None else TokenVocab.from_dict(target),
        )
