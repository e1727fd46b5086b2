"""Recurrent state containers shared by cells and layers.

A state is either a single tensor (``h``) or a NamedTuple of tensors whose first
field is the output ``h``. Layers treat any state generically through
:func:`map_state`, so a new cell needs no change in the time loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import Tensor


class LSTMState(NamedTuple):
    """State of an LSTM-family cell: hidden output ``h`` and memory cell ``c``, each (B, H)."""

    h: Tensor
    c: Tensor


State = Tensor | tuple[Tensor, ...]


def map_state(fn: Callable[..., Tensor], state: State, *others: State) -> State:
    """Apply ``fn`` field by field to one or more states of the same structure."""
    if isinstance(state, Tensor):
        return fn(state, *others)
    fields = [fn(*parts) for parts in zip(state, *others, strict=True)]
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)


def state_output(state: State) -> Tensor:
    """The part of a state that is the cell's output ``h``."""
    return state if isinstance(state, Tensor) else state[0]
