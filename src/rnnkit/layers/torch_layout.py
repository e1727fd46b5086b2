"""torch's per-layer layout: parameter names, and the hidden state (L * dirs, B, H).

``torch.nn.LSTM``/``GRU``/``RNN`` name the tensors of layer k, direction d (0 forward, 1
backward) ``{weight_ih, weight_hh, bias_ih, bias_hh}`` + :func:`suffix`: ``_l{k}``, and
``_reverse`` for d = 1. Their order, in the state dict and in ``h_0``'s rows, is
:func:`layer_directions`'s: layer 0 forward, layer 0 backward, layer 1 forward, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import State, state_output

#: a layer's tensors in torch's order (the biases only when the module has them)
TENSOR_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class LayerWeights(NamedTuple):
    """One layer and direction's tensors; G gate blocks (LSTM 4, GRU 3, RNN 1)."""

    weight_ih: Tensor  # (G * H, D)
    weight_hh: Tensor  # (G * H, H)
    bias_ih: Tensor | None  # (G * H,); None without biases
    bias_hh: Tensor | None  # (G * H,)


def suffix(layer: int, direction: int = 0) -> str:
    """torch's name suffix of layer k, direction d: ``_l{k}``, ``+ '_reverse'`` for d = 1."""
    return f"_l{layer}_reverse" if direction else f"_l{layer}"


def layer_directions(num_layers: int, bidirectional: bool) -> list[tuple[int, int]]:
    """(layer, direction) pairs in torch's order: (0, 0), (0, 1), (1, 0), ... ."""
    return [(k, d) for k in range(num_layers) for d in range(2 if bidirectional else 1)]


def parameter_names(num_layers: int, *, bidirectional: bool, bias: bool = True) -> list[str]:
    """A torch recurrent module's parameter names, in its state dict's order (no proj_size)."""
    names = TENSOR_NAMES if bias else TENSOR_NAMES[:2]
    return [
        name + suffix(k, d)
        for k, d in layer_directions(num_layers, bidirectional)
        for name in names
    ]


def layer_weights(rnn: nn.RNNBase, layer: int, direction: int = 0) -> LayerWeights:
    """The module's own tensors (not copies) of ``layer``, ``direction``, under torch's names."""
    sfx = suffix(layer, direction)
    w_ih, w_hh = getattr(rnn, "weight_ih" + sfx), getattr(rnn, "weight_hh" + sfx)
    if not rnn.bias:
        return LayerWeights(w_ih, w_hh, None, None)
    return LayerWeights(w_ih, w_hh, getattr(rnn, "bias_ih" + sfx), getattr(rnn, "bias_hh" + sfx))


def split_hidden(hx: Any, cells: Sequence[RecurrentCell], *, bidirectional: bool) -> tuple:
    """torch's ``h_0`` or ``(h_0, c_0)``, (L * dirs, B, H) -> one cell state per layer.

    Row ``i`` of ``h_0`` belongs to ``cells[i]``, in :func:`layer_directions`'s order. Fields
    other than h and c come from the cell's zero state. A bidirectional layer's state is
    ``(forward_state, backward_state)``.
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
