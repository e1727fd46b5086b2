"""Activation memory: the bytes a forward pass keeps alive for its backward pass.

Counted with ``torch.autograd.graph.saved_tensors_hooks``: every tensor autograd saves is
recorded by its storage (so views of one buffer count once), except the storages of the
parameters and of the input. Segments under non-reentrant checkpointing save their tensors
through the checkpoint's own hooks, which drop them; what a checkpoint keeps instead (its
arguments: the state at the segment boundary) is recorded by wrapping ``checkpoint``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

import rnnkit.layers.fused.checkpoint as ckpt


class SavedBytes:
    """Unique storages saved for backward (minus excluded ones), in bytes."""

    def __init__(self, exclude: list[Tensor]) -> None:
        self.excluded = {t.untyped_storage().data_ptr() for t in exclude}
        self.storages: dict[int, int] = {}

    def record(self, t: Any) -> Any:
        if isinstance(t, Tensor):
            storage = t.untyped_storage()
            if storage.data_ptr() not in self.excluded:
                self.storages[storage.data_ptr()] = storage.nbytes()
        return t

    @property
    def total(self) -> int:
        return sum(self.storages.values())


@contextmanager
def _checkpoint_args_recorded(saved: SavedBytes) -> Iterator[None]:
    original = ckpt.checkpoint

    def wrapped(fn: Callable, *args: Any, **kwargs: Any) -> Any:
        for arg in args:
            for t in arg if isinstance(arg, tuple) else (arg,):
                saved.record(t)
        return original(fn, *args, **kwargs)

    ckpt.checkpoint = wrapped
    try:
        yield
    finally:
        ckpt.checkpoint = original


def activation_bytes(run: Callable[[], Tensor], exclude: list[Tensor]) -> int:
    """Bytes that ``run()`` (a forward pass) keeps for backward; its output is then released."""
    saved = SavedBytes(exclude)
    hooks = torch.autograd.graph.saved_tensors_hooks(saved.record, lambda t: t)
    with hooks, _checkpoint_args_recorded(saved):
        output = run()
    del output
    return saved.total
