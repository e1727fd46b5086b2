"""A language model's corpus: its vocabulary and its training, validation (and test) streams.

Characters: one text, split into a leading training part and a trailing validation part, the
vocabulary built on the training part. Words: WikiText-style files (whitespace tokens,
``<eos>`` at each line end, ``<unk>`` kept as the unknown word), either three files
(train/valid/test) or one text split by the same rule; the vocabulary is built on train only
(maximum size / minimum frequency), so held-out words it lacks count as ``<unk>``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from rnnkit.data.text import read_text, split_contiguous
from rnnkit.data.vocab import CharVocab, Vocab, WordVocab
from rnnkit.errors import DataError

LEVELS = ("char", "word")
#: the file names of a WikiText-style directory, in the order tried
SPLIT_NAMES = {
    "train": ("train.txt", "wiki.train.tokens"),
    "valid": ("valid.txt", "wiki.valid.tokens"),
    "test": ("test.txt", "wiki.test.tokens"),
}


@dataclass
class LMCorpus:
    """Token streams of one corpus and the vocabulary that encoded them."""

    vocab: Vocab
    train: Tensor  # (N,) ids
    valid: Tensor  # (M,) ids
    test: Tensor | None  # (K,) ids, or None when no test file was given
    digest: str  # SHA-256 of the texts: a resumed run refuses a changed corpus
    source: str  # names the training text in errors

    @property
    def unit(self) -> str:
        return self.vocab.unit

    def check_length(self, batch_size: int) -> None:
        """Refuse streams too short for ``batch_size`` columns plus a validation stretch."""
        if len(self.train) <= batch_size:
            raise DataError(
                f"{self.source}: {len(self.train)} training {self.unit}s is too short for batch "
                f"size {batch_size}: it needs more than {batch_size}; give a longer text or a "
                "smaller batch size"
            )
        if len(self.valid) < 2:
            raise DataError(f"{self.source}: the validation part needs at least 2 {self.unit}s")


def digest(*texts: str) -> str:
    """SHA-256 of the texts joined by NUL (which no text holds); one text: its own SHA-256."""
    return hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()


def char_corpus(text: str, valid_fraction: float, source: str = "text") -> LMCorpus:
    """Leading ``1 - f`` of ``text`` for training, the rest for validation; characters."""
    train_text, valid_text = split_contiguous(text, valid_fraction)
    vocab = CharVocab.from_text(train_text)  # unseen validation characters map to <unk>
    encode = vocab.encode
    return LMCorpus(vocab, encode(train_text), encode(valid_text), None, digest(text), source)


def word_corpus(
    train_text: str,
    valid_text: str | None = None,
    test_text: str | None = None,
    *,
    valid_fraction: float = 0.1,
    max_vocab: int | None = None,
    min_freq: int = 1,
    source: str = "text",
) -> LMCorpus:
    """Word streams; without ``valid_text`` the last ``valid_fraction`` of the lines is held out.

    The split is by whole lines (a line never straddles it), the vocabulary built on train.
    """
    texts = (train_text, valid_text or "", test_text or "")
    if valid_text is None:
        train_text, valid_text = split_lines(train_text, valid_fraction)
    vocab = WordVocab.from_text(train_text, max_size=max_vocab, min_freq=min_freq)
    test = vocab.encode(test_text) if test_text is not None else None
    train, valid = vocab.encode(train_text), vocab.encode(valid_text)
    return LMCorpus(vocab, train, valid, test, digest(*texts), source)


def split_lines(text: str, valid_fraction: float) -> tuple[str, str]:
    """The leading lines for training, the trailing ``valid_fraction`` of them for validation."""
    lines = text.splitlines(keepends=True)
    cut = len(lines) - max(1, round(len(lines) * valid_fraction))
    return "".join(lines[:cut]), "".join(lines[cut:])


def split_files(directory: Path) -> dict[str, Path]:
    """``train``/``valid``/``test`` -> the file of a WikiText-style directory (test optional)."""
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory (expected train.txt, valid.txt, test.txt)")
    found = {}
    for split, names in SPLIT_NAMES.items():
        paths = [directory / name for name in names if (directory / name).is_file()]
        if paths:
            found[split] = paths[0]
        elif split != "test":
            raise DataError(f"{directory}: no {' or '.join(names)}")
    return found


def read_word_corpus(
    train: Path,
    valid: Path | None = None,
    test: Path | None = None,
    *,
    valid_fraction: float = 0.1,
    max_vocab: int | None = None,
    min_freq: int = 1,
) -> LMCorpus:
    """:func:`word_corpus` of files (one-line errors name the file)."""
    texts = [read_text(path) if path is not None else None for path in (train, valid, test)]
    return word_corpus(
        *texts,
        valid_fraction=valid_fraction,
        max_vocab=max_vocab,
        min_freq=min_freq,
        source=str(train),
    )
