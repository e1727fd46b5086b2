"""Ctrl-C and SIGTERM that keep the work done: stop at the end of an update, not inside it.

While a :class:`SignalGuard` is active, the first SIGINT or SIGTERM only records itself; the
trainer finishes the update it is in, writes the resumable state its periodic saves write,
and raises :class:`~rnnkit.errors.Interrupted`. A second signal aborts at once with
KeyboardInterrupt: a state write it cuts short leaves only a temporary directory (see
:mod:`rnnkit.training.checkpoint`), so the newest complete state is still whole.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalGuard:
    """Catch SIGINT and SIGTERM for the ``with`` block; the previous handlers come back after.

    Python delivers signals to the main thread only, so in any other thread the guard does
    nothing (the signal keeps its usual effect). A signal ignored before (``nohup``, a
    background job's SIGINT) stays ignored.
    """

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal caught, if any
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):  # None: set outside Python, cannot restore
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._catch)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _catch(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # asked twice: the user will not wait for the save
            raise KeyboardInterrupt
        self.received = signum
