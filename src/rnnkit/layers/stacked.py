"""Sequence layers stacked in depth, with dropout between them and residual connections."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.checks import check_bool, check_probability
from rnnkit.layers.lengths import Lengths, check_lengths, run_packed, zero_padding


class Stacked(nn.Module):
    r"""Layers applied one after another: the output of layer k is the input of layer k+1.

    .. math::
        y_k = \mathrm{dropout}(f_k(x_k)) + [k \ge 1 \text{ and residual}] \; x_k,
        \qquad x_{k+1} = y_k

    Dropout (standard, elementwise, as ``torch.nn.LSTM``'s ``dropout``) acts on every
    layer's output except the last, before the residual add. Residual connections start at
    the second layer (whose input is the first layer's output), so every layer from the
    second on must output as many features as it takes. With ``lengths`` the padded steps
    of every output stay zero.

    Args:
        layers: sequence layers, ``forward(x, state, lengths=) -> (output, state)``
            (e.g. :class:`Recurrent`, :class:`Bidirectional`).
        dropout: drop probability between layers, in [0, 1).
        residual: add each layer's input to its output, from the second layer on.

    Sizes are checked at construction wherever layers expose ``input_size`` and
    ``output_size``. The state is a tuple with one state per layer; ``state=None`` starts
    every layer from zero.
    """

    def __init__(
        self, layers: Sequence[nn.Module], *, dropout: float = 0.0, residual: bool = False
    ) -> None:
        super().__init__()
        layers = list(layers)
        if not layers:
            raise ValueError("Stacked needs at least one layer, got none")
        self.dropout = check_probability("dropout", dropout)
        self.residual = check_bool("residual", residual)
        self.layers = nn.ModuleList(layers)
        firsts = {getattr(layer, "batch_first", False) for layer in layers}
        if len(firsts) > 1:
            raise ValueError("all layers must agree on batch_first")
        self.batch_first = firsts.pop()
        self._check_sizes()

    def _check_sizes(self) -> None:
        for k in range(1, len(self.layers)):
            lower, upper = self.layers[k - 1], self.layers[k]
            out, inp = getattr(lower, "output_size", None), getattr(upper, "input_size", None)
            if out is not None and inp is not None and out != inp:
                raise ValueError(
                    f"layer {k} takes input_size={inp} but layer {k - 1} outputs {out} features"
                )
        if not self.residual:
            return
        for k, layer in enumerate(self.layers[1:], start=1):
            inp, out = getattr(layer, "input_size", None), getattr(layer, "output_size", None)
            if inp is not None and out is not None and inp != out:
                raise ValueError(
                    f"residual connections need layer {k} to output as many features as it "
                    f"takes, got input_size={inp} and output_size={out}"
                )

    @property
    def input_size(self) -> int | None:
        return getattr(self.layers[0], "input_size", None)

    @property
    def output_size(self) -> int | None:
        return getattr(self.layers[-1], "output_size", None)

    def forward(
        self,
        x: Tensor | PackedSequence,
        state: Sequence | None = None,
        *,
        lengths: Lengths | None = None,
    ) -> tuple[Tensor | PackedSequence, tuple]:
        """Every layer in turn: (T, B, D) -> (T, B, F), a tuple of per-layer final states."""
        if isinstance(x, PackedSequence):
            if lengths is not None:
                raise ValueError("pass lengths or a PackedSequence, not both")
            return run_packed(self.forward, x, state, batch_first=self.batch_first)
        n = len(self.layers)
        states = [None] * n if state is None else list(state)
        if len(states) != n:
            raise ValueError(f"state must hold one entry per layer ({n}), got {len(states)}")
        for k, layer in enumerate(self.layers):
            y, states[k] = layer(x, states[k], lengths=lengths)
            if self.dropout > 0 and k < n - 1:
                y = F.dropout(y, self.dropout, self.training)
            if self.residual and k >= 1:
                y = self._residual(y, x, lengths)
            x = y
        return x, tuple(states)

    def _residual(self, y: Tensor, x: Tensor, lengths: Lengths | None) -> Tensor:
        """``y + x``, with the padded steps zero again."""
        y = y + x
        if lengths is None:
            return y
        if self.batch_first:
            y = y.transpose(0, 1)
        y = zero_padding(y, check_lengths(lengths, y.shape[0], y.shape[1], y.device))
        return y.transpose(0, 1) if self.batch_first else y

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, residual={self.residual}"
