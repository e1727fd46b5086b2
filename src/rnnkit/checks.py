"""Validators for options, shared by every layer of rnnkit.

Each checks one argument where it enters and raises ``ValueError`` with one line that quotes
the bad value and says what would be valid; it returns the value (normalised) so that a
constructor can write ``self.p = check_probability("dropout", dropout)``.
"""

from __future__ import annotations

import codecs
import math
import os
import stat
from pathlib import Path

__all__ = [
    "check_bool",
    "check_choice",
    "check_finite",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_probability",
    "check_range",
    "check_regular_file",
    "check_size",
    "check_text_encoding",
    "check_unicode",
]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_size(name: str, value: int) -> int:
    """A positive integer (a size or a count)."""
    return check_int(name, value, 1)


def check_int(
    name: str, value: int | None, low: int, high: int | None = None, *, optional: bool = False
) -> int | None:
    """An integer in [low, high] (no upper bound when ``high`` is None; ``None`` too when
    ``optional``); ``True`` is not an integer here."""
    if optional and value is None:
        return None
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        if high is not None:
            what = f"an integer in [{low}, {high}]"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_bool(name: str, value: bool) -> bool:
    """A boolean flag (``1`` or ``"yes"`` are not flags)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_finite(name: str, value: float) -> float:
    """A real, finite number."""
    if not (_is_number(value) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: float) -> float:
    """A finite number >= 0."""
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive(name: str, value: float) -> float:
    """A positive, finite number."""
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_probability(name: str, value: float) -> float:
    """A drop probability in [0, 1)."""
    if not (_is_number(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_range(
    name: str, value: float, low: float, high: float, *, high_open: bool = True
) -> float:
    """A number in [low, high) (or [low, high] when ``high_open`` is False)."""
    inside = _is_number(value) and (low <= value < high if high_open else low <= value <= high)
    if not inside:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
    return value


def check_text_encoding(name: str, value: str) -> str:
    """A codec that turns bytes into text (``latin-1``, ``cp1252``); ``rot13`` or ``hex`` are
    codecs too, but of str to str or bytes to bytes, and would fail on the first file."""
    try:
        info = codecs.lookup(value)
    except (LookupError, TypeError, ValueError):  # ValueError: a name with a NUL
        raise ValueError(f"{name}: unknown encoding {value!r} (e.g. latin-1, cp1252)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{name}: {value!r} is not a text encoding (e.g. latin-1, cp1252)")
    return value


#: what a path that is not a regular file is, by its ``stat`` mode
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: str | Path, expected: str = "a file") -> Path:
    """A path to a regular file (through links), checked before it is opened: opening a named
    pipe blocks until someone writes to it, and a device may never end.

    Raises:
        FileNotFoundError: no such path (the caller words it).
        ValueError: a directory, pipe, device or socket, in one line naming the path.
    """
    mode = os.stat(path).st_mode
    for test, kind in _FILE_KINDS:
        if test(mode):
            raise ValueError(f"{path}: is {kind}, expected {expected}")
    return Path(path)


def check_unicode(name: str, value: str) -> str:
    """Text that can be written as UTF-8: no lone surrogate (half of an emoji cut in two in a
    JSON escape, or a byte that was not UTF-8 read with ``surrogateescape``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        code = ord(value[e.start])
        raise ValueError(
            f"{name}: not valid Unicode (a lone surrogate U+{code:04X} at character "
            f"{e.start + 1}: half of a character, or a byte that is not UTF-8)"
        ) from None
    return value
