"""The one state toolkit: recurrent state containers and every walk over them.

A cell's state is a single tensor (``h``) or a NamedTuple of tensors whose first field is the
output ``h`` (``LSTMState(h, c)``). Layers nest them: a stack holds one state per layer, a
bidirectional layer a ``(forward, backward)`` pair, and torch's drop-in layout a tensor
``h`` or a tuple ``(h, c)``. Every function here walks any such nesting (tensors, tuples,
NamedTuples, lists, ``None``), so no other module writes its own walker.

The two layouts, stated once:

========================  ==========================  =========
layout                    shape of each tensor        batch dim
========================  ==========================  =========
cell state (rnnkit)       (B, H) (or (B, C, H, W))    0
torch's ``h_0``/``c_0``   (L * dirs, B, H)            1
========================  ==========================  =========
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from torch import Tensor


class LSTMState(NamedTuple):
    """State of an LSTM-family cell: hidden output ``h`` and memory cell ``c``, each (B, H)."""

    h: Tensor
    c: Tensor


State = Tensor | tuple[Tensor, ...]


def map_state(fn: Callable[..., Tensor], state: Any, *others: Any) -> Any:
    """Apply ``fn`` tensor by tensor to one or more states of the same nesting.

    Containers keep their type (a NamedTuple stays one); ``None`` stays ``None``.
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return fn(state, *others)
    fields = [map_state(fn, *parts) for parts in zip(state, *others, strict=True)]
    if hasattr(state, "_fields"):
        return type(state)(*fields)
    return list(fields) if isinstance(state, list) else tuple(fields)


def detach_state(state: Any) -> Any:
    """Cut the graph behind a state, keeping its values (truncated BPTT's window boundary)."""
    return map_state(Tensor.detach, state)


def reorder_state(state: Any, index: Tensor, *, batch_dim: int = 0) -> Any:
    """Select (and reorder) batch rows: ``index`` (B',) picks rows along ``batch_dim``.

    Decoders use it to follow the surviving beams; use ``batch_dim=1`` for torch's layout.
    """
    return map_state(lambda t: t.index_select(batch_dim, index), state)


def state_output(state: State) -> Tensor:
    """The part of a cell state that is the cell's output ``h``."""
    return state if isinstance(state, Tensor) else state[0]


def flatten_state(state: Any) -> tuple[list[Tensor], Any]:
    """State -> (its tensors in order, a JSON-able description of the nesting)."""
    tensors: list[Tensor] = []

    def walk(s: Any) -> Any:
        if s is None:
            return None
        if isinstance(s, Tensor):
            tensors.append(s)
            return "tensor"
        if isinstance(s, (tuple, list)):
            named = hasattr(s, "_fields")
            kind = f"{type(s).__module__}:{type(s).__qualname__}" if named else type(s).__name__
            return {"type": kind, "items": [walk(x) for x in s]}
        raise TypeError(f"cannot flatten a recurrent state of type {type(s).__name__}")

    return tensors, walk(state)


def unflatten_state(tensors: list[Tensor], structure: Any) -> Any:
    """Inverse of :func:`flatten_state`; NamedTuples come back only as rnnkit's own types."""
    remaining = iter(tensors)

    def build(node: Any) -> Any:
        if node is None:
            return None
        if node == "tensor":
            return next(remaining)
        items = [build(x) for x in node["items"]]
        kind = node["type"]
        if kind == "list":
            return items
        if kind != "tuple" and kind.startswith("rnnkit."):  # never import outside rnnkit
            module, name = kind.split(":")
            return getattr(importlib.import_module(module), name)(*items)
        return tuple(items)

    return build(structure)
