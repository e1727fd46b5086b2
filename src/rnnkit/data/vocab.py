"""Vocabularies of language models (characters or words), each with an unknown entry at id 0.

Both share one interface — ``encode(text) -> (N,) ids``, ``decode(ids) -> text``,
``missing(text)``, ``to_dict``/``from_dict``, ``unit`` (``char``/``word``), ``separator``
(what joins decoded tokens) — so
the language model, sampling and evaluation never ask which kind they hold;
:func:`vocab_from_dict` reads either back from a checkpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from rnnkit.errors import VocabularyError

UNK = "\ufffd"  # index 0: stands for every character unseen in training
UNK_WORD = "<unk>"  # index 0 of a word vocabulary (WikiText's own unknown-word token)
EOS = "<eos>"  # ends every line of a word-level text (pytorch/examples' word_language_model)


class CharVocab:
    """Maps characters to ids; id 0 is the unknown character.

    Args:
        chars: the known characters, in id order starting at 1.
    """

    unit = "char"  # what one id stands for (figures are per char)
    separator = ""  # decoded characters are joined with nothing

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


class WordVocab:
    """Maps whitespace-separated words to ids; id 0 is ``<unk>``, ``<eos>`` ends each line.

    A text is read as ``line.split() + ["<eos>"]`` for every line (blank lines too), as
    pytorch/examples' word_language_model and the published WikiText-2 perplexities do.

    Args:
        words: the known words in id order starting at 1 (distinct, without ``<unk>``).
    """

    unit = "word"
    separator = " "  # decoded words are joined with a space (``<eos>`` becomes a newline)

    def __init__(self, words: Sequence[str]) -> None:
        if len(set(words)) != len(words) or UNK_WORD in words:
            raise ValueError(f"words must be distinct and must not include {UNK_WORD!r}")
        self.itos: list[str] = [UNK_WORD, *words]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @staticmethod
    def tokens(text: str) -> list[str]:
        """Text -> words, ``<eos>`` at the end of every line (a final unterminated one too)."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline that ends the last line starts no new line
        return [word for line in lines for word in (*line.split(), EOS)]

    @classmethod
    def from_text(cls, text: str, *, max_size: int | None = None, min_freq: int = 1) -> WordVocab:
        """The words of ``text`` by descending count (ties by the word), ``<eos>`` always in.

        Args:
            max_size: most entries, ``<unk>`` included; rarer words become ``<unk>``.
            min_freq: keep words seen at least this many times.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (<unk> and <eos>), got {max_size}")
        counts = Counter(cls.tokens(text))
        counts.pop(UNK_WORD, None)
        counts[EOS] = max(counts[EOS], min_freq)  # a one-line text still ends its line
        kept = sorted(
            (w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w)
        )
        return cls(kept if max_size is None else kept[: max_size - 1])

    def __len__(self) -> int:
        return len(self.itos)

    def missing(self, text: str) -> list[str]:
        """Words of ``text`` not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(w for w in self.tokens(text) if w not in self.stoi))

    def encode(self, text: str, *, strict: bool = False) -> Tensor:
        """Text -> (N,) int64 ids; unknown words become 0 (``<unk>``), or raise if ``strict``."""
        if strict and (missing := self.missing(text)):
            shown = " ".join(repr(w) for w in missing[:10])
            raise VocabularyError(f"words not in the model's vocabulary: {shown}")
        return torch.tensor([self.stoi.get(w, 0) for w in self.tokens(text)], dtype=torch.long)

    def encode_words(self, text: str) -> Tensor:
        """Whitespace-separated words (no ``<eos>`` added) -> (N,) ids, unknown words as 0."""
        return torch.tensor([self.stoi.get(w, 0) for w in text.split()], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """Ids -> text: words joined by spaces, ``<eos>`` as a line break."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        lines, line = [], []
        for word in (self.itos[i] for i in ids):
            if word == EOS:
                lines.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(word)
        return "".join(lines) + " ".join(line)

    def to_dict(self) -> dict:
        return {"type": "word", "words": self.itos[1:]}

    @classmethod
    def from_dict(cls, data: dict) -> WordVocab:
        if data.get("type") != "word" or not isinstance(data.get("words"), list):
            raise ValueError("not a word vocabulary")
        return cls(data["words"])


Vocab = CharVocab | WordVocab


def vocab_from_dict(data: dict) -> Vocab:
    """A character or word vocabulary from its ``to_dict`` form."""
    kinds = {"char": CharVocab, "word": WordVocab}
    if not isinstance(data, dict) or data.get("type") not in kinds:
        raise ValueError(f"not a vocabulary (type must be one of {sorted(kinds)})")
    return kinds[data["type"]].from_dict(data)
