"""Sentences as tagger input: word ids, character ids per word, tag ids, padded batches.

A word is seen twice: as a (lower-cased) word id, and as the characters it is spelled with (case
kept), so that a word never seen in training still gets a representation from its spelling.
Gold tags unseen in training are encoded as :data:`UNSEEN_TAG` and count as errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.data.tokenize import UNK, TokenVocab

PAD_TAG = -100  # padded positions (ignored by the loss)
UNSEEN_TAG = -1  # a gold tag the model cannot predict: always an error


@dataclass
class TagBatch:
    """A padded batch of sentences.

    ``words`` (B, T) and ``chars`` (B, T, L) are 0-padded ids; ``lengths`` (B,) words per
    sentence; ``tags`` (B, T) gold tag ids (:data:`PAD_TAG` past each length) or None;
    ``index`` (B,) the sentences' positions in the dataset; ``sentences`` their words (what
    a tagger with contextual string embeddings reads, :mod:`rnnkit.tasks.contextual`).
    """

    words: Tensor
    chars: Tensor
    lengths: Tensor
    tags: Tensor | None
    index: Tensor
    sentences: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class TaggingEncoder:
    """Words -> ids for a tagger; saved with the model so prediction encodes as training did."""

    words: TokenVocab
    chars: TokenVocab
    tags: tuple[str, ...]
    lowercase: bool = True  # word ids of lower-cased forms (characters keep their case)
    max_word_length: int = 30  # characters kept per word (head and tail)

    @classmethod
    def build(
        cls, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], **options
    ) -> TaggingEncoder:
        """Vocabularies of the training sentences and their tag set (sorted)."""
        lowercase = options.get("lowercase", True)
        words = TokenVocab.build([w.lower() if lowercase else w for w in s] for s in sentences)
        chars = TokenVocab.build(list(w) for s in sentences for w in s)
        return cls(words, chars, tuple(sorted({t for s in tags for t in s})), **options)

    def word_ids(self, sentence: Sequence[str]) -> list[int]:
        return self.words.encode(w.lower() if self.lowercase else w for w in sentence)

    def char_ids(self, word: str) -> list[int]:
        n = self.max_word_length
        spelled = word if len(word) <= n else word[: n - n // 2] + word[-(n // 2) :]
        return self.chars.encode(spelled) or [self.chars.stoi[UNK]]

    def tag_ids(self, tags: Sequence[str]) -> list[int]:
        index = {t: i for i, t in enumerate(self.tags)}
        return [index.get(t, UNSEEN_TAG) for t in tags]

    def batch(
        self,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None,
        order: list[int],
    ) -> TagBatch:
        """The padded batch of the sentences at positions ``order``."""
        chosen = [sentences[i] for i in order]
        B, T = len(chosen), max(len(s) for s in chosen)
        spelled = [[self.char_ids(w) for w in s] for s in chosen]
        L = max(len(c) for s in spelled for c in s)
        words = torch.zeros(B, T, dtype=torch.long)
        chars = torch.zeros(B, T, L, dtype=torch.long)
        gold = torch.full((B, T), PAD_TAG, dtype=torch.long) if tags is not None else None
        for b, sentence in enumerate(chosen):
            words[b, : len(sentence)] = torch.tensor(self.word_ids(sentence))
            for t, ids in enumerate(spelled[b]):
                chars[b, t, : len(ids)] = torch.tensor(ids)
            if gold is not None:
                gold[b, : len(sentence)] = torch.tensor(self.tag_ids(tags[order[b]]))
        lengths = torch.tensor([len(s) for s in chosen])
        return TagBatch(words, chars, lengths, gold, torch.tensor(order), [list(s) for s in chosen])

    def to_dict(self) -> dict:
        return {
            "words": self.words.to_dict(),
            "chars": self.chars.to_dict(),
            "tags": list(self.tags),
            "lowercase": self.lowercase,
            "max_word_length": self.max_word_length,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TaggingEncoder:
        return cls(
            TokenVocab.from_dict(data["words"]),
            TokenVocab.from_dict(data["chars"]),
            tuple(data["tags"]),
            bool(data["lowercase"]),
            int(data["max_word_length"]),
        )
