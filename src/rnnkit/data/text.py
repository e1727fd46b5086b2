"""Reading text corpora: any UTF-8 file, with errors that name the file and byte.

Every reader holds what it reads in memory, so a data file may hold at most
:data:`MAX_FILE_BYTES` and a line at most :data:`MAX_LINE_BYTES`: a bigger input (a 2 GB dump,
a binary file without line ends) is a one-line error before it can exhaust memory. Both are
module constants; a program with the memory for more may raise them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import BinaryIO, TextIO

from rnnkit.errors import DataError

#: Name of the public-domain Shakespeare sample shipped inside the package.
SHAKESPEARE = "tinyshakespeare"
#: the largest data file (bytes) a reader takes: 1 GiB of text is ~8 GiB as int64 token ids
MAX_FILE_BYTES = 1 << 30
#: the longest line (bytes) a line-based reader takes; longer ones mean a file is not text
MAX_LINE_BYTES = 1 << 24


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, refusing missing, empty, binary and mis-encoded files.

    Raises:
        DataError: with a one-line message naming the file (and the byte offset of bad UTF-8).
    """
    path = Path(path)
    with open_data(path, "a text file") as f:
        raw = f.read(MAX_FILE_BYTES + 1)  # a device or pipe has no size to check up front
    check_size(path, len(raw))
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
        for line_no, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            check_line(f"{path}:{line_no}", len(raw) - raw.endswith(b"\n"))
            check_size(path, offset + len(raw))
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
    """Open a data file for reading bytes; a missing, unreadable or too large one (see
    :data:`MAX_FILE_BYTES`) is a one-line error."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (the caller closes it: `with open_data(...)`)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected {expected}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    try:
        check_size(path, os.fstat(f.fileno()).st_size)
    except DataError:
        f.close()
        raise
    return f


def check_size(path: Path | str, size: int) -> None:
    """Refuse a file of more than :data:`MAX_FILE_BYTES` bytes (one line naming it)."""
    if size > MAX_FILE_BYTES:
        raise DataError(
            f"{path}: more than {MAX_FILE_BYTES:,} bytes, the most a data file may hold "
            "(rnnkit.data.text.MAX_FILE_BYTES); split it or pass a smaller file"
        )


def check_line(where: str, length: int) -> None:
    """Refuse a line of more than :data:`MAX_LINE_BYTES` bytes (``where``: ``path:line``)."""
    if length > MAX_LINE_BYTES:
        raise DataError(
            f"{where}: a line of more than {MAX_LINE_BYTES:,} bytes "
            "(rnnkit.data.text.MAX_LINE_BYTES); is this a text file?"
        )


def read_stream(stream: TextIO, name: str = "<stdin>") -> str:
    """All of a text stream (standard input), refused beyond :data:`MAX_FILE_BYTES` characters."""
    text = stream.read(MAX_FILE_BYTES + 1)
    check_size(name, len(text))
    return text


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
