"""CoNLL-U for part-of-speech tagging: read, relabel and write back byte for byte.

A CoNLL-U file is a run of sentences, each followed by one blank line. A sentence is comment
lines (``# text = ...``) and token lines of 10 TAB-separated fields::

    ID  FORM  LEMMA  UPOS  XPOS  FEATS  HEAD  DEPREL  DEPS  MISC

ID is an integer for a word, a range ``3-4`` for a multiword token, or a decimal ``5.1`` for an
empty node; a tagger sees only the words. A :class:`Sentence` keeps every raw line, so writing
it back (after :meth:`Sentence.with_column` replaces the tags) leaves every other byte alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import TextIO

from rnnkit.data.text import read_lines, read_text
from rnnkit.errors import DataError

#: The 10 columns of a token line, in order.
COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")

_WORD_ID = re.compile(r"[0-9]+")
_OTHER_ID = re.compile(r"[0-9]+-[0-9]+|[0-9]+\.[0-9]+")  # multiword token or empty node
_TEXT = "# text = "


@dataclass
class Sentence:
    """One CoNLL-U sentence: its raw lines and the words a tagger sees.

    Attributes:
        lines: every line of the sentence, comments included, without the newline.
        words: FORM of each word (integer-ID) line, in order.
        word_lines: index into ``lines`` of each word line.
        line_number: 1-based line number of the sentence's first line in its file.
    """

    lines: list[str]
    words: list[str]
    word_lines: list[int]
    line_number: int

    def column(self, name: str) -> list[str]:
        """The values of column ``name`` (one of :data:`COLUMNS`) for the words, in order."""
        k = _column_index(name)
        return [self.lines[i].split("\t")[k] for i in self.word_lines]

    def with_column(self, name: str, values: Iterable[str]) -> Sentence:
        """A copy with column ``name`` of the word lines set to ``values``; other bytes unchanged.

        Raises:
            ValueError: if ``name`` is unknown or ``ID``, the count of values is not the count
                of words, or a value is empty or holds a tab or newline.
        """
        k = _column_index(name)
        if k == 0:
            raise ValueError("the ID column cannot be replaced")
        values = list(values)
        if len(values) != len(self.words):
            raise ValueError(f"expected {len(self.words)} values (one per word), got {len(values)}")
        lines = list(self.lines)
        for i, value in zip(self.word_lines, values, strict=True):
            _check_field(value)
            fields = lines[i].split("\t")
            fields[k] = value
            lines[i] = "\t".join(fields)
        words = values if name == "FORM" else list(self.words)
        return replace(self, lines=lines, words=words, word_lines=list(self.word_lines))

    def text(self) -> str:
        """The ``# text = `` comment if there is one, else the words joined by spaces."""
        for line in self.lines:
            if line.startswith(_TEXT):
                return line[len(_TEXT) :]
        return " ".join(self.words)


def read_conllu(path: str | Path) -> list[Sentence]:
    """Read a CoNLL-U file, streaming it line by line and checking what tagging relies on.

    Lines are split on ``\\n`` only and kept as they are, so :func:`write_conllu` gives back
    the same bytes (but a UTF-8 byte-order mark at the start, which is dropped). Blank lines
    beyond the one that ends a sentence are skipped.

    Raises:
        DataError: with one line ``"{path}:{line}: ..."`` for a token line without 10 fields,
            a bad ID, word IDs that do not run 1, 2, 3..., an empty FORM, a sentence with no
            words, or a last sentence without its blank line; ``"{path}: ..."`` for a missing,
            empty, binary or mis-encoded file, or one with no sentences.
    """
    path = Path(path)
    sentences: list[Sentence] = []
    pending: list[str] = []  # lines of the sentence being read
    line_no = 0
    for line_no, line in enumerate(read_lines(path, "a CoNLL-U file"), start=1):
        if line_no == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark, not part of the first field
        if "\r" in line[:-1]:
            raise DataError(
                f"{path}:{line_no}: \\r inside a line (old Mac \\r line ends?); "
                "expected \\n line ends only (try mac2unix)"
            )
        if line and not line.strip():
            _refuse_whitespace_line(line, f"{path}:{line_no}")
        if line:
            pending.append(line)
        elif pending:
            first = line_no - len(pending)
            sentences.append(_parse_sentence(pending, first, path))
            pending = []
    if line_no == 0:
        raise DataError(f"{path}: file is empty")
    if pending:
        raise DataError(f"{path}:{line_no}: the last sentence does not end with a blank line")
    if not sentences:
        raise DataError(f"{path}: no sentences (only blank lines)")
    return sentences


def write_conllu(sentences: Iterable[Sentence], path_or_file: str | PathLike | TextIO) -> None:
    """Write each sentence's lines, then one blank line, as UTF-8 with ``\\n`` line ends."""
    if isinstance(path_or_file, (str, PathLike)):
        with open(path_or_file, "w", encoding="utf-8", newline="") as f:
            write_conllu(sentences, f)
        return
    for sentence in sentences:
        path_or_file.write("".join(line + "\n" for line in sentence.lines) + "\n")


def read_plain(path: str | Path, *, pretokenized: bool) -> list[list[str]]:
    """Read plain text to tag, as lists of words.

    Without ``pretokenized``, each non-blank line is a sentence, tokenised by whitespace; no
    punctuation splitting (``"Hi, there."`` gives ``["Hi,", "there."]``). With it, each line is
    one token (surrounding whitespace stripped) and blank lines separate sentences. Lines end
    in ``\\n``, ``\\r\\n`` or ``\\r``; a byte-order mark at the start is dropped.

    Raises:
        DataError: for a missing, empty, binary or mis-encoded file, a file with no words, or
            (pre-tokenised) a token holding a tab.
    """
    path = Path(path)
    text = read_text(path).removeprefix("\ufeff")  # a byte-order mark is not part of a word
    lines = _LINE_END.split(text)
    if not pretokenized:
        sentences = [words for words in (line.split() for line in lines) if words]
    else:
        sentences, words = [], []
        for line_no, line in enumerate(lines, start=1):
            token = line.strip()
            if "\t" in token:
                raise DataError(
                    f"{path}:{line_no}: token holds a tab; expected one token per line "
                    "(for a CoNLL-U file use read_conllu)"
                )
            if token:
                words.append(token)
            elif words:
                sentences.append(words)
                words = []
        if words:
            sentences.append(words)
    if not sentences:
        raise DataError(f"{path}: no words (only blank lines)")
    return sentences


#: a line end of a plain-text file: Unix, Windows or old Mac
_LINE_END = re.compile(r"\r\n|\r|\n")


def sentences_from_words(sentences: list[list[str]]) -> list[Sentence]:
    """Minimal CoNLL-U sentences: a ``# text = `` comment, then ID, FORM and ``_`` elsewhere.

    ``line_number`` is where each sentence starts once the list is written with
    :func:`write_conllu`.

    Raises:
        ValueError: if a sentence has no words, or a word is empty or holds a tab or newline.
    """
    out: list[Sentence] = []
    line_number = 1
    for words in sentences:
        if not words:
            raise ValueError(f"sentence {len(out) + 1} has no words")
        for word in words:
            _check_field(word)
        lines = [_TEXT + " ".join(words)]
        lines += [f"{i}\t{word}" + "\t_" * 8 for i, word in enumerate(words, start=1)]
        out.append(Sentence(lines, list(words), list(range(1, len(lines))), line_number))
        line_number += len(lines) + 1
    return out


def _parse_sentence(lines: list[str], first: int, path: Path) -> Sentence:
    """Check a sentence's lines (the first at line ``first`` of ``path``) and find its words."""
    words: list[str] = []
    word_lines: list[int] = []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            continue
        where = f"{path}:{first + i}"
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            hint = " (fields separated by spaces?)" if len(fields) == 1 and " " in line else ""
            raise DataError(f"{where}: expected 10 tab-separated fields, got {len(fields)}{hint}")
        id_, form = fields[0], fields[1]
        if _OTHER_ID.fullmatch(id_):
            continue
        if not _WORD_ID.fullmatch(id_):
            raise DataError(f"{where}: ID {id_!r} is not an integer, a range N-M or a decimal N.M")
        if int(id_) != len(words) + 1:
            raise DataError(f"{where}: word ID {id_} out of order, expected {len(words) + 1}")
        if not form:
            raise DataError(f"{where}: empty FORM")
        words.append(form)
        word_lines.append(i)
    if not words:
        raise DataError(f"{path}:{first}: sentence has no words (no line with an integer ID)")
    return Sentence(list(lines), words, word_lines, first)


def _refuse_whitespace_line(line: str, where: str) -> None:
    if "\r" in line:
        raise DataError(f"{where}: \\r\\n line end; expected \\n only (try dos2unix)")
    raise DataError(f"{where}: line holds only whitespace; a blank line must be empty")


def _column_index(name: str) -> int:
    if name not in COLUMNS:
        raise ValueError(f"unknown column {name!r}; expected one of {', '.join(COLUMNS)}")
    return COLUMNS.index(name)


def _check_field(value: str) -> None:
    if not value or "\t" in value or "\n" in value:
        raise ValueError(f"a field must be non-empty with no tab or newline, got {value!r}")
