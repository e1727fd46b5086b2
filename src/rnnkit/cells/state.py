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

A field that every row of a group reads alike (an encoder memory, read by the K hypotheses
of one example in beam search) can be held once per group: :class:`PerExample`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor


class LSTMState(NamedTuple):
    """State of an LSTM-family cell: hidden output ``h`` and memory cell ``c``, each (B, H)."""

    h: Tensor
    c: Tensor


State = Tensor | tuple[Tensor, ...]


@dataclass(frozen=True, eq=False)
class PerExample:
    """A state field held once per example and read by each of its ``group`` rows.

    ``tensor`` (B', ...) stands for the (B' * group, ...) field whose rows
    b*group .. b*group+group-1 all equal ``tensor[b]``: beam search's layout, where the K
    hypotheses of an example read one encoder memory. :func:`reorder_state` picks examples,
    not rows, whenever the new rows come in whole runs of one example (the first expansion
    from 1 to K rows per example, then every beam step), so the field is never copied K
    times; any other index gets the rows themselves (``group`` 1), so the result is always
    the rows it stands for. A consumer reads the K query rows of an example at once:
    ``grouped(q)`` (B'K, D) -> (B', K, D) against ``tensor`` (B', S, D).
    """

    tensor: Tensor  # (B', ...), one entry per example
    group: int = 1  # rows per example

    def rows(self) -> Tensor:
        """(B' * group, ...): the field as one row per row (a copy unless ``group`` is 1)."""
        if self.group == 1:
            return self.tensor
        return self.tensor.repeat_interleave(self.group, dim=0)

    def grouped(self, x: Tensor) -> Tensor:
        """(B' * group, ...) -> (B', group, ...): each example's rows side by side."""
        return x.unflatten(0, (-1, self.group))


def as_rows(x: Tensor | PerExample | None) -> Tensor | None:
    """A field as one entry per row, whether or not it is held per example."""
    return x.rows() if isinstance(x, PerExample) else x


def map_state(fn: Callable[..., Tensor], state: Any, *others: Any) -> Any:
    """Apply ``fn`` tensor by tensor to one or more states of the same nesting.

    Containers keep their type (a NamedTuple stays one); ``None`` stays ``None``; a
    :class:`PerExample` field stays one, ``fn`` applied to its per-example tensor.
    """

    def leaf(t: Tensor | PerExample, *rest: Any) -> Tensor | PerExample:
        if isinstance(t, PerExample):
            return PerExample(fn(t.tensor, *(r.tensor for r in rest)), t.group)
        return fn(t, *rest)

    return _map_fields(leaf, state, *others)


def _map_fields(leaf: Callable[..., Any], state: Any, *others: Any) -> Any:
    """``leaf`` on every tensor and :class:`PerExample` of the states, containers kept."""
    if state is None:
        return None
    if isinstance(state, (Tensor, PerExample)):
        return leaf(state, *others)
    fields = [_map_fields(leaf, *parts) for parts in zip(state, *others, strict=True)]
    if hasattr(state, "_fields"):
        return type(state)(*fields)
    return list(fields) if isinstance(state, list) else tuple(fields)


def detach_state(state: Any) -> Any:
    """Cut the graph behind a state, keeping its values (truncated BPTT's window boundary)."""
    return map_state(Tensor.detach, state)


def reorder_state(state: Any, index: Tensor, *, batch_dim: int = 0) -> Any:
    """Select (and reorder) batch rows: ``index`` (B',) picks rows along ``batch_dim``.

    Decoders use it to follow the surviving beams; use ``batch_dim=1`` for torch's layout.
    A :class:`PerExample` field picks whole examples where ``index`` keeps them together.
    """
    groupings: dict[tuple[int, int], tuple[Tensor | None, int]] = {}  # per (group, examples)

    def pick(t: Tensor | PerExample) -> Tensor | PerExample:
        if isinstance(t, Tensor):
            return t.index_select(batch_dim, index)
        key = (t.group, t.tensor.shape[batch_dim])
        if key not in groupings:
            groupings[key] = _grouping(index, *key)
        examples, group = groupings[key]
        kept = t.tensor if examples is None else t.tensor.index_select(batch_dim, examples)
        return PerExample(kept, group)

    return _map_fields(pick, state)


def _grouping(index: Tensor, group: int, count: int) -> tuple[Tensor | None, int]:
    """(examples (B'',) or None, rows per example) of the rows ``index`` picks from ``count``.

    New row i reads example ``index[i] // group``. The candidate run length is the old group
    (a beam step), or from one row per example the rows per example (the expansion to K);
    the runs are checked, and an index that splits them gets one example per row. None: the
    examples are the same as before, in order (no example left), so nothing is copied.
    """
    examples = torch.div(index, group, rounding_mode="floor")  # (N',)
    n = len(examples)
    run = group if group > 1 else n // count
    if run <= 1 or n % run:
        return examples, 1
    runs = examples.view(-1, run)  # (B'', run)
    if not bool((runs == runs[:, :1]).all()):
        return examples, 1
    first = runs[:, 0]
    unchanged = len(first) == count and torch.equal(first, torch.arange(count, device=first.device))
    return None if unchanged else first, run


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
        if isinstance(s, PerExample):
            tensors.append(s.tensor)
            return {"type": "per_example", "group": s.group}
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
        if node["type"] == "per_example":
            return PerExample(next(remaining), node["group"])
        items = [build(x) for x in node["items"]]
        kind = node["type"]
        if kind == "list":
            return items
        if kind != "tuple" and kind.startswith("rnnkit."):  # never import outside rnnkit
            module, name = kind.split(":")
            return getattr(importlib.import_module(module), name)(*items)
        return tuple(items)

    return build(structure)
