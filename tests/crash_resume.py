"""What the resume tests share: a run to the end, and the same run killed and resumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.training.trainer import Trainer


class CrashError(Exception):
    """Stands for the process dying."""


def crash_then_reopen(
    make: Callable[..., Trainer], directory: Path, crash_step: int, **fields
) -> tuple[Trainer, Trainer]:
    """``(whole, reopened)``: ``whole`` ran to its end in ``directory/whole``; the same run in
    ``directory/crashed`` died after update ``crash_step``, and ``reopened`` is a fresh trainer
    on that directory, not yet resumed."""
    whole = make(directory / "whole", **fields)
    whole.fit()
    crashed = make(directory / "crashed", **fields)

    def crash(trainer: Trainer, metrics: dict) -> None:
        if metrics["step"] == crash_step:
            raise CrashError

    crashed.callbacks = {"on_step_end": [crash]}
    with pytest.raises(CrashError):
        crashed.fit()
    return whole, make(directory / "crashed", **fields)
