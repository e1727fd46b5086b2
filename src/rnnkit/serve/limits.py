"""What one request may ask of the server, and how many model runs it takes at once.

A public-facing server must bound every request: its body, the text it sends, the output it
asks for, the beam it searches with, and how many of them run (and wait) at once. Past a bound
the request gets a 4xx JSON error (503 when the server is full), never a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rnnkit.options import option

R = TypeVar("R")


@dataclass(frozen=True)
class ServeLimits:
    """The bounds ``rnnkit serve`` enforces; each is also a command-line option."""

    max_body_bytes: int = option(65536, "largest request body in bytes", low=64, high=2**24)
    max_input_chars: int = option(
        2000, "longest text a request may send (prime, sentence, source)", low=1, high=10**6
    )
    max_length: int = option(2000, "most tokens a request may generate", low=1, high=10**6)
    max_beam: int = option(16, "largest beam size of a translation", low=1, high=1024)
    max_running: int = option(4, "model runs at once (generations and the rest)", low=1, high=256)
    max_waiting: int = option(
        64, "requests that may wait for a run; more are refused with 503", low=0, high=10**5
    )


class ServerBusyError(Exception):
    """Every run slot is taken and the waiting line is full."""


class RunSlots:
    """At most ``running`` model runs at once and ``waiting`` more in line; the rest: busy.

    ``async with slots:`` waits for a slot, or raises :class:`ServerBusyError` at once when the line
    is full. The semaphore is made on first use, inside the serving event loop.
    Only the event loop's thread calls it, so the count needs no lock.
    """

    def __init__(self, running: int, waiting: int) -> None:
        self.running, self.waiting = running, waiting
        self.admitted = 0  # running + waiting now
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self) -> None:
        if self.admitted >= self.running + self.waiting:
            raise ServerBusyError(
                f"server busy: {self.running} runs in progress and {self.waiting} waiting; "
                "try again shortly"
            )
        loop = asyncio.get_running_loop()
        if self._loop is not loop and self.admitted == 0:  # first use, or a new test loop
            self._semaphore, self._loop = asyncio.Semaphore(self.running), loop
        self.admitted += 1
        try:
            await self._semaphore.acquire()
        except BaseException:  # cancelled while waiting: the client went away
            self.admitted -= 1
            raise

    def release(self) -> None:
        self.admitted -= 1
        self._semaphore.release()

    async def __aenter__(self) -> RunSlots:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(*args)`` in a worker thread, holding a slot: the event loop keeps serving."""
        from starlette.concurrency import run_in_threadpool  # the serve extra; limits need none

        async with self:
            return await run_in_threadpool(fn, *args)
