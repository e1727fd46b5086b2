"""Character vocabulary with an unknown-character entry, serialisable to JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from rnnkit.errors import VocabularyError

UNK = "\ufffd"  # index 0: stands for every character unseen in training


class CharVocab:
    """Maps characters to ids; id 0 is the unknown character.

    Args:
        chars: the known characters, in id order starting at 1.
    """

    def __init__(self, chars: Sequence[str]) -> None:
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("chars must be distinct single characters")
        self.itos: list[str] = [UNK, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: Iterable[str]) -> CharVocab:
        """The sorted set of characters in ``text``."""
        return cls(sorted(set(text) - {UNK}))

    def __len__(self) -> int:
        return len(self.itos)

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str, *, strict: bool = False) -> Tensor:
        """Text -> (N,) int64 ids; unknown characters become 0, or raise if ``strict``."""
        if strict and (missing := self.missing(text)):
            shown = " ".join(repr(c) for c in missing)
            raise VocabularyError(f"characters not in the model's vocabulary: {shown}")
        return torch.tensor([self.stoi.get(c, 0) for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """Ids -> text."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.itos[i] for i in ids)

    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.itos[1:]}

    @classmethod
    def from_dict(cls, data: dict) -> CharVocab:
        if data.get("type") != "char" or not isinstance(data.get("chars"), list):
            raise ValueError("not a character vocabulary")
        return cls(data["chars"])
