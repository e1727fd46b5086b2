"""Two sequence layers reading a sequence in opposite directions, outputs merged."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.checks import check_choice
from rnnkit.layers.lengths import Lengths, run_packed

MERGES = ("concat", "sum", "mean", "mul")


class Bidirectional(nn.Module):
    r"""A forward and a backward layer over the same sequence (Schuster & Paliwal, 1997).

    .. math::
        y_t = \mathrm{merge}(\overrightarrow{h}_t, \overleftarrow{h}_t)

    with ``merge`` one of ``"concat"`` ([a; b] on the feature dimension, dim 2 of the
    (T, B, F...) output, which is the channel dimension of a conv layer), ``"sum"`` (a + b),
    ``"mean"`` ((a + b) / 2) or ``"mul"`` (a ⊙ b). Both layers see the same ``lengths``, so
    with :class:`~rnnkit.layers.Recurrent` the backward layer reverses each sequence within
    its own length. Padded steps stay zero under every merge.

    Args:
        forward_layer: a sequence layer, ``forward(x, state, lengths=) -> (output, state)``;
            if it has a ``reverse`` attribute it must be False.
        backward_layer: the same kind of layer with ``reverse=True``.
        merge: how the two outputs combine.

    The state is the pair ``(forward_state, backward_state)``; ``state=None`` starts both
    from zero.
    """

    def __init__(
        self, forward_layer: nn.Module, backward_layer: nn.Module, *, merge: str = "concat"
    ) -> None:
        super().__init__()
        self.merge = check_choice("merge", merge, MERGES)
        if getattr(forward_layer, "reverse", False) is not False:
            raise ValueError("forward_layer must read forward, got reverse=True")
        if getattr(backward_layer, "reverse", True) is not True:
            raise ValueError("backward_layer must have reverse=True, got reverse=False")
        first = getattr(forward_layer, "batch_first", False)
        if getattr(backward_layer, "batch_first", False) != first:
            raise ValueError("forward_layer and backward_layer must agree on batch_first")
        sizes = [getattr(layer, "output_size", None) for layer in (forward_layer, backward_layer)]
        if merge != "concat" and None not in sizes and sizes[0] != sizes[1]:
            raise ValueError(f"merge={merge!r} needs equal output sizes, got {sizes}")
        ins = [getattr(layer, "input_size", None) for layer in (forward_layer, backward_layer)]
        if None not in ins and ins[0] != ins[1]:
            raise ValueError(f"the two layers must take the same input size, got {ins}")
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer
        self.batch_first = first
        self.input_size = ins[0]
        self.output_size = None if None in sizes else self._merged_size(*sizes)

    def _merged_size(self, a: int, b: int) -> int:
        return a + b if self.merge == "concat" else a

    def forward(
        self,
        x: Tensor | PackedSequence,
        state: tuple | None = None,
        *,
        lengths: Lengths | None = None,
    ) -> tuple[Tensor | PackedSequence, tuple]:
        """Both directions over ``x``, merged: (T, B, D) -> (T, B, F), state pair."""
        if isinstance(x, PackedSequence):
            if lengths is not None:
                raise ValueError("pass lengths or a PackedSequence, not both")
            return run_packed(self.forward, x, state, batch_first=self.batch_first)
        forward_state, backward_state = (None, None) if state is None else state
        a, forward_state = self.forward_layer(x, forward_state, lengths=lengths)
        b, backward_state = self.backward_layer(x, backward_state, lengths=lengths)
        return self._merge(a, b), (forward_state, backward_state)

    def _merge(self, a: Tensor, b: Tensor) -> Tensor:
        if self.merge == "concat":
            return torch.cat([a, b], dim=2)  # (T, B, Fa + Fb, ...)
        if self.merge == "sum":
            return a + b
        if self.merge == "mean":
            return (a + b) / 2
        return a * b

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}"
