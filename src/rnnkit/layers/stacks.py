"""One table of cell names, and the one builder of a recurrent stack from a name.

Every task names its cell by a string (``--cell layer_norm_lstm``); :data:`CELLS` says what
each name is, and each task's own choices are a subset of it:

- ``layer``: the drop-in (:class:`~rnnkit.layers.LSTM`, ``GRU``, ``RNN``) that stacks the
  cell, keeps torch's parameter names, and runs torch's kernel when nothing needs rnnkit's
  loop; None for a cell no drop-in can carry.
- ``cell``: rnnkit's one-step cell, ``cell(input_size, hidden_size, **options)``: what a
  decoder or a single-cell task unrolls through :class:`~rnnkit.layers.Recurrent`.
- ``native``: the cell is the drop-in's own default, so the stack is built without ``cell=``
  (and its state dict is exactly ``torch.nn``'s).

:func:`recurrent_stack` builds the drop-in for a name; :func:`make_cell` builds one step.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from torch import nn

from rnnkit.cells import (
    GRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    NTMCell,
    PeepholeLSTMCell,
    RecurrentCell,
    SimpleRNNCell,
)
from rnnkit.layers.rnn import GRU, LSTM, RNN, FusedLSTM

__all__ = ["CELLS", "CellKind", "make_cell", "recurrent_stack"]


class CellKind(NamedTuple):
    """What a cell name builds: the drop-in that stacks it, and its one-step cell."""

    layer: type[nn.RNNBase] | None  # the drop-in layer; None: one step only
    cell: Any  # rnnkit's cell: cell(input_size, hidden_size, **options) -> RecurrentCell
    native: bool  # the drop-in's default cell: built without cell=, torch's kernel and keys


#: cell name -> how to build it (the union of every task's choices; see the module docstring)
CELLS: dict[str, CellKind] = {
    "lstm": CellKind(LSTM, LSTMCell, native=True),
    "gru": CellKind(GRU, GRUCell, native=True),
    "rnn": CellKind(RNN, SimpleRNNCell, native=True),  # Elman, tanh
    "tanh": CellKind(RNN, SimpleRNNCell, native=True),  # the long-range tasks' name for "rnn"
    "irnn": CellKind(RNN, partial(SimpleRNNCell, nonlinearity="relu", init="identity"), False),
    "layer_norm_lstm": CellKind(LSTM, LayerNormLSTMCell, native=False),
    "peephole_lstm": CellKind(LSTM, PeepholeLSTMCell, native=False),
    "ntm": CellKind(None, NTMCell, native=False),  # its state is a memory, not torch's (h, c)
}


def _kind(cell: str) -> CellKind:
    """The row for ``cell``; a one-line error naming the valid ones."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    return CELLS[cell]


def make_cell(cell: str, input_size: int, hidden_size: int, **options: Any) -> RecurrentCell:
    """One step of the cell named ``cell``, (B, D) -> (B, H); ``options`` go to its class."""
    return _kind(cell).cell(input_size, hidden_size, **options)


def recurrent_stack(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    batch_first: bool = True,
    zoneout: float = 0.0,
    weight_drop: float = 0.0,
    recurrent_dropout: float = 0.0,
    residual: bool = False,
    fused: bool = False,
) -> nn.RNNBase:
    """The drop-in layer for ``cell``: (B, T, D) -> (B, T, H or 2H) when ``batch_first``.

    ``dropout`` acts between layers, so a single layer gets none (as torch wants). The
    regularizers and ``residual`` are :class:`~rnnkit.layers.dropin.DropIn`'s; a native cell
    with none of them runs torch's kernel. ``fused``: an LSTM stack is a
    :class:`~rnnkit.layers.FusedLSTM` (rnnkit's fused CPU kernels when training on padded
    batches). A GRU stack always trains on rnnkit's fused GRU kernel (``GRU(fused=True)``).
    Parameter names are torch's (``weight_ih_l0``, ...), plus the cell's own for a non-native
    cell.
    """
    kind = _kind(cell)
    if kind.layer is None:
        raise ValueError(f"cell {cell!r} has no recurrent stack; build one step with make_cell")
    layer = FusedLSTM if fused and kind.layer is LSTM else kind.layer
    # the tasks' GRUs trained on the fused kernel when it was rnnkit.GRU's default: keep it
    gru = {"fused": True} if kind.layer is GRU else {}
    return layer(
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=batch_first,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        zoneout=zoneout,
        weight_drop=weight_drop,
        recurrent_dropout=recurrent_dropout,
        residual=residual,
        **gru,
        **({} if kind.native else {"cell": kind.cell}),
    )
