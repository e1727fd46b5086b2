"""Running one fuzz case: the command line in-process, its outcome classified and counted.

Every case must end in a success (exit 0) or a one-line error with exit status 2; anything
else (a traceback, another exit status, more than one line on stderr, a case that outlives
:data:`CASE_SECONDS`) is recorded and fails the test that ran it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.errors import RnnkitError

#: wall-clock limit of one case (generous: CI machines are shared); past it the case hangs
CASE_SECONDS = 60
OUTCOMES = ("success", "one-line error", "traceback", "hang")
#: ``rnnkit: error: ...`` (the CLI) or ``rnnkit train lm: error: ...`` (argparse)
ERROR_LINE = re.compile(r"rnnkit[\w -]*: error: ")


class Hang(BaseException):
    """Raised by the alarm inside a case that ran past its time limit (not an Exception, so
    the code under test cannot swallow it)."""


@dataclass
class Outcome:
    """What one case did: its kind (one of :data:`OUTCOMES`), exit status, stderr, details."""

    kind: str
    status: int | None
    stderr: str
    detail: str = ""
    notes: int = 0  # lines the command printed on stderr before its error line
    seconds: float = 0.0  # wall time of the case

    def __str__(self) -> str:
        return f"{self.kind} (exit {self.status}): {self.detail or self.stderr[-3000:]}"


class Tally:
    """Outcomes of every fuzz case of the session, per kind and per command."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        self.failures: list[str] = []
        self.slowest: list[tuple[float, str]] = []  # (seconds, case), the slowest few

    def add(self, command: str, outcome: Outcome, case: str) -> None:
        self.kinds[outcome.kind] += 1
        self.kinds["after notes"] += outcome.notes > 0
        self.commands[command] += 1
        self.slowest = sorted([*self.slowest, (outcome.seconds, case[:300])], reverse=True)[:5]
        if outcome.kind in ("traceback", "hang"):
            self.failures.append(f"{command}: {case}\n{outcome}")

    def summary(self) -> str:
        """One line: ``fuzz: 1,234 cases: 700 successes, 534 one-line errors, 0 ...``."""
        k = self.kinds
        return (
            f"fuzz: {sum(k[o] for o in OUTCOMES):,} cases: {k['success']:,} successes, "
            f"{k['one-line error']:,} one-line errors ({k['after notes']:,} after the command's "
            f"own notes), {k['traceback']:,} tracebacks, {k['hang']:,} hangs "
            f"({len(self.commands)} commands and readers)"
        )


TALLY = Tally()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the block if it runs longer than ``seconds`` (SIGALRM)."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block with ``path`` as the current directory (relative paths land there)."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def classify(status: int | None, stderr: str) -> Outcome:
    """Success: exit 0. One-line error: exit 2, no traceback, and one error line, the last on
    stderr; lines before it are notes the command printed while working (counted apart)."""
    if status == 0:
        return Outcome("success", status, stderr)
    lines = stderr.strip().split("\n")  # a terminal's lines (argparse echoes a \v as it is)
    errors = [i for i, line in enumerate(lines) if ERROR_LINE.match(line)]
    if status == 2 and errors == [len(lines) - 1] and "Traceback" not in stderr:
        return Outcome("one-line error", status, stderr, notes=len(lines) - 1)
    return Outcome("traceback", status, stderr, f"not a one-line error: {stderr[-3000:]!r}")


def run_main(argv: Sequence[str], cwd: Path, *, stdin: str = "") -> Outcome:
    """``rnnkit.cli.main(argv)`` in-process, in ``cwd``, with stdin/stdout/stderr captured."""
    return timed(lambda: _run_main(argv, cwd, stdin))


def _run_main(argv: Sequence[str], cwd: Path, stdin: str) -> Outcome:
    import torch

    from rnnkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin, threads = sys.stdin, torch.get_num_threads()
    sys.stdin = io.StringIO(stdin)
    try:
        with (
            working_directory(cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            time_limit(CASE_SECONDS),
        ):
            try:
                status = main(list(argv))
            except SystemExit as e:  # argparse: a usage error (2) or --help (0)
                status = e.code if isinstance(e.code, int) else 2
    except Hang as e:
        return Outcome("hang", None, err.getvalue(), str(e))
    except Exception:
        return Outcome("traceback", None, err.getvalue(), traceback.format_exc())
    finally:
        sys.stdin = saved_stdin
        torch.set_num_threads(threads)  # `serve --threads N` sets it for the process
    return classify(status, err.getvalue())


def run_reader(
    read: Callable[[], Any], errors: tuple[type[Exception], ...] = (RnnkitError,)
) -> Outcome:
    """A reader called directly: success, or one of ``errors`` with a one-line message (the
    CLI turns it into exit status 2); any other exception is a traceback."""
    return timed(lambda: _run_reader(read, errors))


def _run_reader(read: Callable[[], Any], errors: tuple[type[Exception], ...]) -> Outcome:
    try:
        with time_limit(CASE_SECONDS):
            read()
    except Hang as e:
        return Outcome("hang", None, "", str(e))
    except errors as e:
        message = f"rnnkit: error: {e}\n"
        return classify(2, message)
    except Exception:
        return Outcome("traceback", None, "", traceback.format_exc())
    return Outcome("success", 0, "")


def timed(run: Callable[[], Outcome]) -> Outcome:
    """``run()``'s outcome with its wall time."""
    start = time.perf_counter()
    outcome = run()
    outcome.seconds = time.perf_counter() - start
    return outcome


def one_line(outcome: Outcome, *needles: str) -> str:
    """Exit 2 and exactly one line on stderr, holding every needle; that line."""
    lines = outcome.stderr.strip().split("\n")
    assert outcome.status == 2 and len(lines) == 1, outcome
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def scratch(scene: Any) -> Path:
    """A new empty folder inside the scene (each case writes its own files)."""
    return Path(tempfile.mkdtemp(dir=scene.root, prefix="case-"))


def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file under ``root`` (and ``""`` for a folder): equal
    digests mean no file was written, added or removed there."""
    digest = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        digest[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return digest


def check(command: str, outcome: Outcome, case: str) -> Outcome:
    """Count the case and fail the test unless it ended in success or a one-line error."""
    TALLY.add(command, outcome, case)
    assert outcome.kind in ("success", "one-line error"), f"{command}: {case}\n{outcome}"
    return outcome
