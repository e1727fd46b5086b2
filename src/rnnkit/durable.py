"""Files that survive crashes: temporary name, fsync, rename, fsync the directory.

A rename is atomic, but without ``fsync`` a power cut can leave the new name pointing at
data that never reached the disk (an empty or torn checkpoint where a good one stood). So
every checkpoint file is written under a temporary name and fsync'ed, then renamed into
place, and the directory holding it is fsync'ed so the rename itself is on disk: after a
crash at any moment, either the old file or the new one is there, complete. A write that
fails (disk full) removes its temporary files and raises :class:`WriteError`; the files it
would have replaced are untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from rnnkit.errors import RnnkitError

Writer = Callable[[str], Any]  # writes the file at the path it is given


class WriteError(RnnkitError, OSError):
    """A checkpoint or run file could not be written (disk full, ...); the old one is kept."""

    reason: str = ""  # the system's words, e.g. "No space left on device"


#: What a failed write raises: OSError, or safetensors' own error (disk full included).
WRITE_ERRORS = (OSError, SafetensorError)


def write_failed(path: Path, error: Exception, kept: str) -> WriteError:
    """The one-line error for a failed write of ``path``; ``kept`` says what is still there."""
    if isinstance(error, WriteError):  # a file inside a directory being written
        reason = error.reason
    else:
        text = getattr(error, "strerror", None) or str(error).strip() or type(error).__name__
        reason = text.splitlines()[0].rpartition("I/O error: ")[2]  # safetensors' wrapping
    failed = WriteError(f"{path}: could not write ({reason}); {kept}")
    failed.errno, failed.reason = getattr(error, "errno", None), reason
    return failed


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a directory's entries, to the disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Writer) -> None:
    """Call ``write(tmp_path)``, fsync it, rename it onto ``path``, fsync the directory."""
    atomic_write_all({Path(path): write}, what=Path(path).name)


def atomic_write_all(files: dict[Path, Writer], *, what: str = "checkpoint") -> None:
    """Several files (``what``, for messages): all written and fsync'ed before any is renamed.

    A failed write (disk full) thus changes none of them: the old set stays consistent.
    """
    temps: dict[Path, str] = {}
    try:
        for path, write in files.items():
            try:
                temps[path] = _temp_file(path)
                write(temps[path])
                fsync_path(temps[path])
            except WRITE_ERRORS as e:
                kept = any(p.exists() for p in files)
                said = f"the previous {what} is kept" if kept else f"no {what} was written"
                raise write_failed(path, e, said) from None
        for path, tmp in temps.items():
            os.replace(tmp, path)
        for directory in {path.parent for path in files}:
            fsync_path(directory)
    finally:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)


def _temp_file(path: Path) -> str:
    """A fresh temporary beside ``path``; those a killed writer of ``path`` left are removed."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return tmp


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished directory into place, durably: its files, itself, then its parent.

    ``final``, if it exists, is removed first (a step saved again after a resume).
    """
    for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
        fsync_path(file)
    fsync_path(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_path(final.parent)
