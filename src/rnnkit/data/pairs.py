"""Source/target pair files for sequence-to-sequence jobs: one ``source<TAB>target`` per line.

::

    hello<TAB>HH AH L OW
    world<TAB>W ER L D

Each side is split into tokens by :func:`split_tokens`: ``"char"`` (every character, spaces
included) or ``"space"`` (whitespace-separated words). Blank lines are skipped and counted;
anything else that is not exactly one tab between two non-empty sides is a one-line
:class:`~rnnkit.errors.DataError` naming the file and line::

    data/g2p.tsv:17: no tab between source and target
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rnnkit.checks import check_choice
from rnnkit.data.text import read_lines
from rnnkit.errors import DataError

#: How a side of a pair is split into tokens.
PAIR_TOKENS = ("char", "space")

_LINE_ENDS = "\r\n"


@dataclass(frozen=True)
class Pair:
    """One example: the source tokens and the target tokens (both non-empty)."""

    source: tuple[str, ...]
    target: tuple[str, ...]


class PairCorpus(list[Pair]):
    """The pairs of a file, in file order: a ``list[Pair]`` that also knows what was skipped.

    Attributes:
        source: the path shown in messages.
        skipped: reason -> number of lines skipped for it (``"blank line"``).
    """

    def __init__(
        self, pairs: Iterable[Pair] = (), *, source: str, skipped: dict[str, int] | None = None
    ) -> None:
        super().__init__(pairs)
        self.source = source
        self.skipped: dict[str, int] = dict(skipped or {})

    @property
    def read(self) -> int:
        """Number of pairs read (``len(self)``)."""
        return len(self)

    @property
    def sources(self) -> list[tuple[str, ...]]:
        """The source side of every pair."""
        return [pair.source for pair in self]

    @property
    def targets(self) -> list[tuple[str, ...]]:
        """The target side of every pair."""
        return [pair.target for pair in self]

    def summary(self) -> str:
        """One line: ``"path: 1,000 pairs read, 2 skipped (2 blank line)"``."""
        n_skipped = sum(self.skipped.values())
        line = f"{self.source}: {self.read:,} pairs read, {n_skipped:,} skipped"
        if n_skipped:
            reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(self.skipped.items()))
            line += f" ({reasons})"
        return line


def split_tokens(text: str, tokens: str) -> tuple[str, ...]:
    """Split one side of a pair into tokens, after stripping a trailing line end.

    Args:
        text: the side's text.
        tokens: ``"char"``: every character is a token, spaces included (``"a b"`` ->
            ``("a", " ", "b")``); ``"space"``: ``text.split()``, so runs of whitespace only
            separate tokens.
    """
    check_choice("tokens", tokens, PAIR_TOKENS)
    text = text.rstrip(_LINE_ENDS)
    return tuple(text) if tokens == "char" else tuple(text.split())


def read_pairs(
    path: str | Path,
    *,
    source_tokens: str = "char",
    target_tokens: str = "space",
    encoding: str = "utf-8",
) -> PairCorpus:
    """Read a file of ``source<TAB>target`` lines.

    Lines end in ``\\n`` or ``\\r\\n``; a UTF-8 byte-order mark at the start is dropped. A line
    that is empty or holds only spaces (no tab) is blank: skipped and counted.

    Args:
        path: the file.
        source_tokens: how the source side is split (one of :data:`PAIR_TOKENS`).
        target_tokens: how the target side is split.
        encoding: the file's encoding; must write ``\\n`` as that single byte (UTF-8, Latin-1...).

    Returns:
        The pairs in file order: a list, with the count of skipped lines.

    Raises:
        DataError: ``"{path}:{line}: ..."`` for a line without a tab, with more than one tab,
            with a side that has no tokens (empty or only whitespace), or with bytes that are
            not valid in ``encoding``; ``"{path}: ..."`` for a missing, empty or binary file,
            or one with only blank lines.
        ValueError: for an unknown token kind or an encoding that is not ASCII-compatible.
    """
    check_choice("source_tokens", source_tokens, PAIR_TOKENS)
    check_choice("target_tokens", target_tokens, PAIR_TOKENS)
    if "\n".encode(encoding) != b"\n":
        raise ValueError(f"encoding must write '\\n' as one byte (like UTF-8), got {encoding!r}")
    path = Path(path)
    corpus = PairCorpus(source=str(path))
    line_no = 0
    lines = read_lines(path, "a source<TAB>target file", encoding=encoding)
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip(_LINE_ENDS)
        if line_no == 1:
            line = line.removeprefix("\ufeff")  # a UTF-8 byte-order mark
        if not line.strip() and "\t" not in line:
            corpus.skipped["blank line"] = corpus.skipped.get("blank line", 0) + 1
            continue
        corpus.append(_parse_line(line, f"{path}:{line_no}", source_tokens, target_tokens))
    if line_no == 0:
        raise DataError(f"{path}: file is empty")
    if not corpus:
        raise DataError(f"{path}: no pairs (only blank lines)")
    return corpus


def _parse_line(line: str, where: str, source_tokens: str, target_tokens: str) -> Pair:
    """One ``source<TAB>target`` line (without its line end) -> a :class:`Pair`."""
    n_tabs = line.count("\t")
    if n_tabs == 0:
        raise DataError(f"{where}: no tab between source and target")
    if n_tabs > 1:
        raise DataError(f"{where}: {n_tabs} tabs; expected one, between source and target")
    source_text, target_text = line.split("\t")
    source = split_tokens(source_text, source_tokens) if source_text.strip() else ()
    target = split_tokens(target_text, target_tokens) if target_text.strip() else ()
    if not source:
        raise DataError(f"{where}: empty source (nothing before the tab)")
    if not target:
        raise DataError(f"{where}: empty target (nothing after the tab)")
    return Pair(source, target)
