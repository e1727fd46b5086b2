"""Resumable trainer checkpoints on disk: file I/O only.

What goes in them is the :class:`~rnnkit.training.Trainer`'s ``state_dict()``; this module
writes it as ``OUT/trainer_state/step-NNNNNN/`` (see :mod:`rnnkit.training.checkpoint` for the
layout) and reads the newest one back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnkit.training import checkpoint as ckpt


def save_trainer_state(
    out_dir: Path,
    step: int,
    state: dict[str, Any],
    *,
    write_model: Callable[[Path], Any],
    keep_last: int,
) -> Path:
    """Write a trainer's ``state_dict()`` (and, through ``write_model``, its model)."""
    meta = {"format": ckpt.FORMAT, **state["meta"]}
    return ckpt.save_state_dir(
        out_dir, step, write_model=write_model, tensors=state["tensors"], meta=meta,
        keep_last=keep_last,
    )  # fmt: skip


def load_trainer_state(out_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete step directory and the state in it, or None if there is none."""
    found = ckpt.step_dirs(out_dir)
    if not found:
        return None
    tensors, meta = ckpt.load_state_dir(found[-1])
    return found[-1], {"meta": meta, "tensors": tensors}
