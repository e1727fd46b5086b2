"""The original LSTM: input and output gates around a constant error carousel, no forget gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import MemoryCell
from rnnkit.cells.state import LSTMState
from rnnkit.checks import check_bool


class OriginalLSTMCell(MemoryCell):
    r"""Long short-term memory as first published (Hochreiter & Schmidhuber, 1997).

    .. math::
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})
        c_t = c_{t-1} + i_t \odot g_t
        h_t = o_t \odot \tanh(c_t)

    There is no forget gate: the cell state ``c`` is a constant error carousel whose
    self-connection has weight exactly 1, so ``\partial c_t / \partial c_{t-1} = I`` and
    while the input gate is shut (``i_t = 0``) the cell keeps its content unchanged for
    any number of steps. (The forget gate came later: :class:`rnnkit.cells.lstm.LSTMCell`.)
    The paper squashed the cell input with ``4\sigma(x) - 2`` and the cell output with
    ``2\sigma(x) - 1``; we use ``tanh`` for both, the modern convention.

    Parameter layout, packed in gate order (i, g, o) like torch's LSTM without its f rows:
    ``weight_ih`` (3H, D) = (W_ii | W_ig | W_io), ``weight_hh`` (3H, H) = (W_hi | W_hg | W_ho),
    ``bias_ih`` and ``bias_hh`` (3H,). State: ``LSTMState(h, c)``, each (B, H).
    Init: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), as in torch.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, memory cells.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.bias = check_bool("bias", bias)
        self.add_affine_parameters(3, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        self.reset_uniform()

    def project_input(self, x: Tensor) -> Tensor:
        """The x-part of the three gates, (..., D) -> (..., 3H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        gates = gx + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 3H)
        i, g, o = gates.chunk(3, dim=-1)  # (B, H) each
        c = c + torch.sigmoid(i) * self.candidate(torch.tanh(g))
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)

    def num_parameters(self) -> int:
        """3H(D + H + 2) with biases, 3H(D + H) without."""
        H, D = self.hidden_size, self.input_size
        return 3 * H * (D + H + (2 if self.bias else 0))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"
