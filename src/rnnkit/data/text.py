"""Reading text corpora: any UTF-8 file, with errors that name the file and byte.

Every reader holds what it reads in memory, so a data file may hold at most
:data:`MAX_FILE_BYTES` and a line at most :data:`MAX_LINE_BYTES`: a bigger input (a 2 GB dump,
a binary file without line ends) is a one-line error before it can exhaust memory. Both are
module constants; a program with the memory for more may raise them.

Real files carry stray control bytes (a NUL at the end of a saved email, a DOS ``^Z``): a
file is binary only when it starts with a known file signature (PNG, PDF, ZIP, gzip, ...) or
when at least a tenth of its first :data:`SNIFF_BYTES` are control bytes
(:func:`binary_reason`). Every reader refuses or skips a binary file, and removes the stray
control bytes of a textual one (:func:`strip_controls`).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import BinaryIO, TextIO

from rnnkit.checks import check_regular_file
from rnnkit.errors import DataError

#: Name of the public-domain Shakespeare sample shipped inside the package.
SHAKESPEARE = "tinyshakespeare"
#: the largest data file (bytes) a reader takes: 1 GiB of text is ~8 GiB as int64 token ids
MAX_FILE_BYTES = 1 << 30
#: the longest line (bytes) a line-based reader takes; longer ones mean a file is not text
MAX_LINE_BYTES = 1 << 24
#: how many leading bytes decide whether a file is binary
SNIFF_BYTES = 8192
#: a file whose first SNIFF_BYTES hold at least this share of control bytes is binary
BINARY_SHARE = 0.1
#: control bytes, which text never holds: C0 except tab, line feed, form feed and carriage
#: return, and DEL (none of them occurs inside a UTF-8 sequence)
CONTROL_BYTES = bytes([*range(9), 11, *range(14, 32), 127])
_CONTROL = re.compile(b"[" + re.escape(CONTROL_BYTES) + b"]")
_DELETE_CONTROLS = dict.fromkeys(CONTROL_BYTES)  # a str.translate table
#: (pattern at the start of a file, what it is)
_SIGNATURES = tuple(
    (re.compile(pattern, re.DOTALL), name)
    for pattern, name in [
        (rb"\x89PNG\r\n\x1a\n", "a PNG image"),
        (rb"\xff\xd8\xff", "a JPEG image"),
        (rb"GIF8[79]a", "a GIF image"),
        (rb"II\*\x00|MM\x00\*", "a TIFF image"),
        (rb"RIFF.{4}(?:WAVE|AVI |WEBP)", "a RIFF file (WAV, AVI, WebP)"),
        (rb"\x00.{3}ftyp", "an MP4/QuickTime file"),
        (rb"ID3[\x02-\x04]|OggS|fLaC", "an audio file"),
        (rb"%PDF-", "a PDF document"),
        (rb"PK(?:\x03\x04|\x05\x06|\x07\x08)", "a ZIP archive (or .docx, .xlsx, .jar)"),
        (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE document (.doc, .xls, .msg)"),
        (rb"\x1f\x8b", "gzip data"),
        (rb"BZh[1-9]1AY&SY", "bzip2 data"),
        (rb"\xfd7zXZ\x00", "xz data"),
        (rb"\x28\xb5\x2f\xfd", "zstd data"),
        (rb"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (rb"Rar!\x1a\x07", "a RAR archive"),
        (rb".{257}ustar", "a tar archive"),
        (rb"\x7fELF|\xca\xfe\xba\xbe|\xcf\xfa\xed\xfe", "an executable"),
        (rb"SQLite format 3\x00", "an SQLite database"),
    ]
)


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, refusing missing, empty, binary and mis-encoded files.

    Stray control bytes (see :func:`binary_reason`) are removed.

    Raises:
        DataError: with a one-line message naming the file (and the byte offset of bad UTF-8
            or of the first control byte of a binary file).
    """
    path = Path(path)
    with open_data(path, "a text file") as f:
        raw = f.read(MAX_FILE_BYTES + 1)  # a device or pipe has no size to check up front
    check_size(path, len(raw))
    if not raw:
        raise DataError(f"{path}: file is empty")
    check_not_binary(path, raw[:SNIFF_BYTES])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 at byte offset {e.start}") from None
    return strip_controls(text) if _CONTROL.search(raw) else text


def read_lines(path: Path, expected: str, *, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a text file, decoded, each without its final ``\n`` (a ``\r`` stays).

    Streams the file (a corpus is never held twice). A binary file (judged on its first
    :data:`SNIFF_BYTES`) or bytes not valid in ``encoding`` stop it with a one-line
    :class:`DataError` naming the file, the line and the byte offset; ``expected`` says what
    the file should be, for a directory or a missing file. Stray control bytes are removed.
    """
    offset = 0  # byte offset of the current line
    with open_data(path, expected) as f:
        head = f.read(SNIFF_BYTES)
        check_not_binary(path, head)
        for line_no, raw in enumerate(_raw_lines(f, head), 1):
            check_line(f"{path}:{line_no}", len(raw) - raw.endswith(b"\n"))
            check_size(path, offset + len(raw))
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as e:
                where = f"byte offset {offset + e.start}"
                raise DataError(f"{path}:{line_no}: not valid {encoding} ({where})") from None
            offset += len(raw)
            line = strip_controls(line) if _CONTROL.search(raw) else line
            yield line[:-1] if line.endswith("\n") else line


def _raw_lines(f: BinaryIO, head: bytes) -> Iterator[bytes]:
    """The lines (with their ``\\n``) of a file whose first bytes ``head`` were read already."""
    first = io.BytesIO(head)
    for raw in iter(first.readline, b""):
        if not raw.endswith(b"\n"):  # the line goes on past the head
            raw += f.readline(MAX_LINE_BYTES + 1 - len(raw))
        yield raw
    yield from iter(lambda: f.readline(MAX_LINE_BYTES + 1), b"")


def binary_reason(head: bytes) -> str | None:
    """Why a file whose first bytes are ``head`` is binary, or None when it is text.

    Binary: ``head`` starts with a known file signature, or at least :data:`BINARY_SHARE` of
    it are control bytes (NUL, ESC, ... but not tab or line ends). Fewer control bytes are
    stray ones in a text file, for :func:`strip_controls` to remove.
    """
    for pattern, name in _SIGNATURES:
        if pattern.match(head):
            return name
    n_control = len(head) - len(head.translate(None, CONTROL_BYTES))
    if n_control == 0 or n_control < BINARY_SHARE * len(head):
        return None
    at = _CONTROL.search(head).start()
    byte = "NUL byte" if head[at] == 0 else f"control byte 0x{head[at]:02x}"
    return f"{byte} at offset {at}"


def check_not_binary(path: Path | str, head: bytes) -> None:
    """Refuse a binary file (see :func:`binary_reason`) with one line naming it."""
    reason = binary_reason(head)
    if reason is not None:
        raise DataError(f"{path}: looks binary ({reason})")


def has_controls(data: bytes) -> bool:
    """Whether ``data`` holds a control byte (see :data:`CONTROL_BYTES`)."""
    return _CONTROL.search(data) is not None


def strip_controls(text: str) -> str:
    """``text`` without its control characters (C0 but tab, line ends and form feed; DEL)."""
    return text.translate(_DELETE_CONTROLS)


def open_data(path: Path, expected: str) -> BinaryIO:
    """Open a data file for reading bytes; a missing, unreadable or too large one (see
    :data:`MAX_FILE_BYTES`) is a one-line error."""
    try:
        check_regular_file(path, expected)  # before opening: a named pipe would block it
        f = open(path, "rb")  # noqa: SIM115 (the caller closes it: `with open_data(...)`)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected {expected}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:  # a pipe, a device, a socket
        raise DataError(str(e)) from None
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
