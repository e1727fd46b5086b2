"""Pretrained word vectors: word2vec (text and binary), GloVe and fastText ``.vec`` files.

Three layouts, told apart by their first bytes:

- **word2vec text** and **fastText .vec**: a header line ``COUNT DIM``, then one line per word,
  ``word v_1 … v_DIM`` separated by spaces;
- **GloVe**: the same lines with no header;
- **word2vec binary** (``.bin``): the header line, then per word its UTF-8 bytes, a space, and
  ``DIM`` little-endian float32s (some writers add a line break after each vector).

Everything a file can get wrong ends in one line naming the file (and the line or the entry): a
row with another dimension, a header whose count is not the number of rows, a binary file cut
mid-vector. :func:`write_word2vec` writes the text layout, which every reader above reads back.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.errors import DataError

FLOAT32 = np.dtype("<f4")


@dataclass
class WordVectors:
    """Words (in file order, the first of any repeated word kept) and their vectors (N, D)."""

    words: list[str]
    vectors: np.ndarray  # (N, D) float32
    source: str = "<memory>"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self) -> dict[str, int]:
        """word -> row, the first row of a repeated word."""
        rows: dict[str, int] = {}
        for i, word in enumerate(self.words):
            rows.setdefault(word, i)
        return rows


@dataclass(frozen=True)
class Coverage:
    """How many vocabulary words found a vector: exactly, or only through their lower case."""

    vocabulary: int
    exact: int
    lowercased: int

    @property
    def found(self) -> int:
        return self.exact + self.lowercased

    def line(self, source: str, what: str = "word vectors") -> str:
        share = self.found / max(1, self.vocabulary)
        return (f"{what} {source}: {self.found:,} of {self.vocabulary:,} vocabulary words "
                f"found ({share:.1%}; {self.exact:,} exact, {self.lowercased:,} lower-cased); "
                "the others get new rows, started at random")  # fmt: skip


def read_word_vectors(path: str | Path, *, max_words: int | None = None) -> WordVectors:
    """Read any of the layouts in the module docstring (``.gz`` too); ``max_words``: the first
    so many rows (files list frequent words first)."""
    path = Path(path)
    try:
        raw = _open(path).read()
    except OSError as error:
        raise DataError(f"{path}: cannot read word vectors ({error.strerror or error})") from None
    if not raw.strip():
        raise DataError(f"{path}: empty word-vectors file")
    header = _header(raw)
    if header is not None and _is_binary(raw, header):
        return _read_binary(raw, header, path, max_words)
    return _read_text(raw, header, path, max_words)


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _header(raw: bytes) -> tuple[int, int, int] | None:
    """``(count, dim, offset of the first row)`` when the first line is ``COUNT DIM``."""
    end = raw.find(b"\n")
    first = raw[: end if end >= 0 else len(raw)].split()
    if len(first) == 2 and all(part.isdigit() for part in first):
        return int(first[0]), int(first[1]), end + 1
    return None


def _is_binary(raw: bytes, header: tuple[int, int, int]) -> bool:
    """A text row after the header decodes as UTF-8 and holds DIM + 1 fields."""
    _, dim, start = header
    end = raw.find(b"\n", start)
    row = raw[start : end if end >= 0 else len(raw)]
    try:
        return len(row.decode("utf-8").split()) != dim + 1
    except UnicodeDecodeError:
        return True


def _read_text(
    raw: bytes, header: tuple[int, int, int] | None, path: Path, max_words: int | None
) -> WordVectors:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: word vectors are not UTF-8 text") from None
    lines = text.splitlines()
    first = 1 if header is not None else 0
    words, rows = [], []
    dim = header[1] if header is not None else None
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        if max_words is not None and len(words) == max_words:
            break
        word, *values = line.rstrip().split(" ")
        dim = dim if dim is not None else len(values)
        if len(values) != dim:
            raise DataError(f"{path}:{number}: {len(values)} values for {word!r}, expected {dim}")
        try:
            rows.append(np.array(values, dtype=np.float32))
        except ValueError:
            raise DataError(f"{path}:{number}: a value of {word!r} is not a number") from None
        words.append(word)
    _check_count(header, len(words), path, max_words)
    if not words:
        raise DataError(f"{path}: no word vectors in the file")
    return WordVectors(words, np.stack(rows), str(path))


def _read_binary(
    raw: bytes, header: tuple[int, int, int], path: Path, max_words: int | None
) -> WordVectors:
    count, dim, offset = header
    wanted = count if max_words is None else min(count, max_words)
    words, rows = [], np.empty((wanted, dim), dtype=np.float32)
    for i in range(wanted):
        while offset < len(raw) and raw[offset : offset + 1] in (b"\n", b" "):
            offset += 1  # the line break some writers put after each vector
        space = raw.find(b" ", offset)
        if space < 0:
            raise DataError(f"{path}: the header promises {count:,} words, the file ends at {i:,}")
        end = space + 1 + 4 * dim
        if end > len(raw):
            raise DataError(f"{path}: entry {i + 1:,} is cut mid-vector (the file is truncated)")
        words.append(raw[offset:space].decode("utf-8", errors="replace"))
        rows[i] = np.frombuffer(raw, FLOAT32, dim, space + 1)
        offset = end
    return WordVectors(words, rows, str(path))


def _check_count(
    header: tuple[int, int, int] | None, found: int, path: Path, max_words: int | None
) -> None:
    if header is None or (max_words is not None and found == max_words):
        return
    if found != header[0]:
        raise DataError(f"{path}: the header promises {header[0]:,} words, the file has {found:,}")


def write_word2vec(path: str | Path, words: Sequence[str], vectors: np.ndarray) -> None:
    """The word2vec text layout: ``COUNT DIM``, then ``word v_1 … v_DIM`` per row.

    Floats are written with 9 significant digits, which float32 reads back exactly.
    """
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
    bad = [w for w in words if not w or any(c.isspace() for c in w)]
    if bad:
        raise ValueError(f"word {bad[0]!r} is empty or holds white space: not writable as word2vec")
    with Path(path).open("w", encoding="utf-8") as out:
        out.write(f"{len(words)} {vectors.shape[1]}\n")
        for line in _rows(words, vectors):
            out.write(line)


def _rows(words: Sequence[str], vectors: np.ndarray) -> Iterator[str]:
    for word, row in zip(words, vectors.astype(np.float32), strict=True):
        yield word + " " + " ".join(f"{x:.9g}" for x in row.tolist()) + "\n"


def match_vocabulary(
    vocabulary: Sequence[str], vectors: WordVectors
) -> tuple[dict[int, int], Coverage]:
    """Vocabulary position -> vector row for each word found: exactly, else by lower case on
    both sides (``Cash``'s vector for ``cash``, or ``cash``'s for ``CASH``)."""
    index, rows = vectors.index(), {}
    folded: dict[str, int] = {}
    for word, row in index.items():
        folded.setdefault(word.lower(), row)
    exact = lowercased = 0
    for position, word in enumerate(vocabulary):
        if word in index:
            rows[position], exact = index[word], exact + 1
        elif word.lower() in folded:
            rows[position], lowercased = folded[word.lower()], lowercased + 1
    return rows, Coverage(len(vocabulary), exact, lowercased)


def fill_embedding(
    weight: torch.Tensor, vocabulary: Sequence[str], vectors: WordVectors, *, first: int = 0
) -> Coverage:
    """Copy the vector of each word of ``vocabulary`` found in ``vectors`` into its row of
    ``weight`` (V, D) (row ``first + position``: after the specials); other rows stay as they
    are. ``D`` must be the vectors' dimension."""
    if weight.shape[1] != vectors.dim:
        raise DataError(f"{vectors.source}: vectors of dimension {vectors.dim}, but the "
                        f"embedding has {weight.shape[1]} (--embedding-size)")  # fmt: skip
    rows, coverage = match_vocabulary(vocabulary, vectors)
    if rows:
        positions = torch.tensor([first + p for p in rows])
        found = torch.from_numpy(vectors.vectors[list(rows.values())])
        with torch.no_grad():
            weight[positions] = found.to(weight.dtype)
    return coverage


def peek_dimension(path: str | Path) -> int:
    """The vectors' dimension from the first line (the header, or a GloVe row) alone."""
    path = Path(path)
    try:
        with _open(path) as f:
            first = f.readline(1 << 20)
    except OSError as error:
        raise DataError(f"{path}: cannot read word vectors ({error.strerror or error})") from None
    header = _header(first + b"\n")
    if header is not None:
        return header[1]
    fields = first.split()
    if len(fields) < 2:
        raise DataError(f"{path}:1: not a word-vectors line (word, then its numbers)")
    return len(fields) - 1
