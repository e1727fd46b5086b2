"""A dependency-free progress bar: step, loss, tokens/s and ETA on one line."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """Redraws in place on a terminal; elsewhere (CI, pipes) prints a line every ``interval`` s.

    Progress is the larger of the step fraction and the time fraction of the budget;
    ``elapsed`` is time already spent before this bar started (a resumed run); ``label`` starts
    each line (which of several models a job trains).
    """

    def __init__(
        self,
        *,
        max_steps: int | None,
        max_seconds: float | None,
        stream: TextIO | None = None,
        interval: float = 10.0,
        elapsed: float = 0.0,
        label: str = "",
    ) -> None:
        self.prefix = f"{label}: " if label else ""
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.interval = interval
        self.start = time.monotonic() - elapsed
        self._last_print = -float("inf")

    def fraction(self, step: int) -> float:
        elapsed = time.monotonic() - self.start
        parts = [0.0]
        if self.max_steps:
            parts.append(step / self.max_steps)
        if self.max_seconds:
            parts.append(elapsed / self.max_seconds)
        return min(1.0, max(parts))

    def update(self, step: int, loss: float, tokens_per_second: float) -> None:
        now = time.monotonic()
        if not self.interactive and now - self._last_print < self.interval:
            return
        self._last_print = now
        done = self.fraction(step)
        elapsed = now - self.start
        eta = elapsed * (1 - done) / done if done > 0 else 0.0
        bar = "#" * int(20 * done) + "-" * (20 - int(20 * done))
        line = self.prefix + (
            f"[{bar}] {100 * done:5.1f}% step {step} loss {loss:.4f} "
            f"{tokens_per_second:,.0f} tok/s elapsed {format_seconds(elapsed)} "
            f"ETA {format_seconds(eta)}"
        )
        end = "" if self.interactive else "\n"
        print(("\r" if self.interactive else "") + line, end=end, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """Print a line without breaking the bar."""
        prefix = "\r\033[K" if self.interactive else ""
        print(prefix + self.prefix + text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.interactive:
            print(file=self.stream, flush=True)
