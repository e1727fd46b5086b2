"""torch's hidden-state layout, (L * dirs, B, H), to and from per-layer cell states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import State, state_output


def split_hidden(hx: Any, cells: Sequence[RecurrentCell], *, bidirectional: bool) -> tuple:
    """torch's ``h_0`` or ``(h_0, c_0)``, (L * dirs, B, H) -> one cell state per layer.

    Row ``i`` of ``h_0`` belongs to ``cells[i]`` (torch's order: layer 0 forward, layer 0
    backward, layer 1 forward, ...). Fields other than h and c come from the cell's zero
    state. A bidirectional layer's state is ``(forward_state, backward_state)``.
    """
    h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
    states = []
    for i, cell in enumerate(cells):
        zero = cell.initial_state(h0.shape[1], device=h0.device, dtype=h0.dtype)
        states.append(_fill(zero, h0[i], None if c0 is None else c0[i]))
    if not bidirectional:
        return tuple(states)
    return tuple(zip(states[0::2], states[1::2], strict=True))


def join_hidden(finals: Sequence, *, lstm: bool, bidirectional: bool) -> Any:
    """Per-layer final states -> torch's ``h_n`` (and ``c_n`` for an LSTM), (L * dirs, B, H)."""
    states = [s for layer in finals for s in layer] if bidirectional else list(finals)
    h_n = torch.stack([state_output(s) for s in states])
    if not lstm:
        return h_n
    return h_n, torch.stack([s[_field_c(s)] for s in states])


def _field_c(state: tuple) -> int:
    """Index of the memory c: the field named ``c``, else field 1."""
    names = getattr(state, "_fields", ())
    return names.index("c") if "c" in names else 1


def _fill(zero: State, h: Tensor, c: Tensor | None) -> State:
    """A cell state with h (and c) from torch's hidden, other fields from ``zero``."""
    if isinstance(zero, Tensor):
        return h
    fields = list(zero)
    fields[0] = h
    if c is not None:
        fields[_field_c(zero)] = c
    return type(zero)(*fields) if hasattr(zero, "_fields") else tuple(fields)
