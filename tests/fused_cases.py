"""What the fused-path tests share: the cells with a fused kernel, and a fixed candidate mask."""

from __future__ import annotations

import functools

from torch import Tensor, nn

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell

#: every cell type registered for a fused kernel (rnnkit.layers.fused.dispatch), by test id
FUSED_CELLS = {
    "lstm": LSTMCell,
    "peephole": PeepholeLSTMCell,
    "layer_norm": LayerNormLSTMCell,
    "gru_after": GRUCell,
    "gru_before": functools.partial(GRUCell, reset_after=False),
}


class FixedMask(nn.Module):
    """A candidate dropout with a given mask (for the reference loop)."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        self.mask = mask

    def forward(self, g: Tensor) -> Tensor:
        return g * self.mask
