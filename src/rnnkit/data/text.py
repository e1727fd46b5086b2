"""Reading text corpora: any UTF-8 file, with errors that name the file and byte."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from rnnkit.errors import DataError

#: Name of the public-domain Shakespeare sample shipped inside the package.
SHAKESPEARE = "tinyshakespeare"


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, refusing missing, empty, binary and mis-encoded files.

    Raises:
        DataError: with a one-line message naming the file (and the byte offset of bad UTF-8).
    """
    path = Path(path)
    with open_data(path, "a text file") as f:
        raw = f.read()
    if not raw:
        raise DataError(f"{path}: file is empty")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{path}: looks binary (NUL byte at offset {nul}), expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 at byte offset {e.start}") from None


def read_lines(path: Path, expected: str, *, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a text file, decoded, each without its final ``\n`` (a ``\r`` stays).

    Streams the file (a corpus is never held twice). A NUL byte (a binary file) or bytes not
    valid in ``encoding`` stop it with a one-line :class:`DataError` naming the file, the line
    and the byte offset; ``expected`` says what the file should be, for a directory or a
    missing file.
    """
    offset = 0  # byte offset of the current line
    with open_data(path, expected) as f:
        for line_no, raw in enumerate(f, start=1):
            nul = raw.find(b"\x00")
            if nul >= 0:
                raise DataError(f"{path}: looks binary (NUL byte at offset {offset + nul})")
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as e:
                where = f"byte offset {offset + e.start}"
                raise DataError(f"{path}:{line_no}: not valid {encoding} ({where})") from None
            offset += len(raw)
            yield line[:-1] if line.endswith("\n") else line


def open_data(path: Path, expected: str) -> BinaryIO:
    """Open a data file for reading bytes; a missing or unreadable one is a one-line error."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected {expected}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


def bundled_text(name: str = SHAKESPEARE) -> str:
    """A corpus shipped in the package (``tinyshakespeare``: karpathy/char-rnn's sample)."""
    corpus = resources.files("rnnkit.data") / "corpora" / f"{name}.txt"
    if not corpus.is_file():
        raise DataError(f"no bundled corpus named {name!r}")
    return corpus.read_text(encoding="utf-8")


def split_contiguous(text: str, valid_fraction: float) -> tuple[str, str]:
    """Split a stream into a leading training part and a trailing validation part."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction!r}")
    cut = int(len(text) * (1.0 - valid_fraction))
    return text[:cut], text[cut:]
