"""The LSTM with peephole connections from the cell state into the gates."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import MemoryCell
from rnnkit.cells.state import LSTMState
from rnnkit.checks import check_bool


class PeepholeLSTMCell(MemoryCell):
    r"""LSTM with peephole connections (Gers & Schmidhuber, 2000).

    .. math::
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + w_{ci} \odot c_{t-1})
        f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + w_{cf} \odot c_{t-1})
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})
        c_t = f_t \odot c_{t-1} + i_t \odot g_t
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + w_{co} \odot c_t)
        h_t = o_t \odot \tanh(c_t)

    Gers & Schmidhuber, "Recurrent Nets that Time and Count" (IJCNN 2000): the gates look
    at the cell state through diagonal ("peephole") weights, the input and forget gates at
    the old state ``c_{t-1}``, the output gate at the new state ``c_t``. This lets the cell
    learn precise timing even while the output gate is shut.

    Parameters: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh``
    (4H,), packed in gate order (i, f, g, o) exactly as ``torch.nn.LSTMCell`` (whose state
    dict therefore loads with ``strict=False``, leaving the peepholes alone), plus the
    peephole vectors ``weight_ci = w_ci``, ``weight_cf = w_cf``, ``weight_co = w_co``, each
    (H,). State: ``LSTMState(h, c)``, each (B, H).

    Init: the torch-layout parameters uniform in (-1/sqrt(H), 1/sqrt(H)); the peepholes
    **zero**, so at init the cell computes exactly what ``torch.nn.LSTMCell`` does with the
    same weights, and the peepholes grow from there (their gradient ``dL/dpre * c`` is not
    zero once the cell holds something).

    Args:
        input_size: D, features of x_t.
        hidden_size: H, memory cells.
        bias: whether to learn ``bias_ih`` and ``bias_hh`` (the peepholes are always learned).
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.bias = check_bool("bias", bias)
        H = hidden_size
        self.add_affine_parameters(4, bias=bias)
        self.weight_ci = nn.Parameter(torch.empty(H))
        self.weight_cf = nn.Parameter(torch.empty(H))
        self.weight_co = nn.Parameter(torch.empty(H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's uniform init for the LSTM weights, zeros for the peepholes."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, weight in self.named_parameters():
            if name in ("weight_ci", "weight_cf", "weight_co"):
                nn.init.zeros_(weight)
            else:
                nn.init.uniform_(weight, -bound, bound)

    def project_input(self, x: Tensor) -> Tensor:
        """The x-part of the four gates, (..., D) -> (..., 4H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        gates = gx + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        i = torch.sigmoid(i + self.weight_ci * c)
        f = torch.sigmoid(f + self.weight_cf * c)
        c = f * c + i * self.candidate(torch.tanh(g))
        o = torch.sigmoid(o + self.weight_co * c)
        h = o * torch.tanh(c)
        return h, LSTMState(h, c)

    def num_parameters(self) -> int:
        """4H(D + H + 2) + 3H with biases, 4H(D + H) + 3H without."""
        H, D = self.hidden_size, self.input_size
        return 4 * H * (D + H + (2 if self.bias else 0)) + 3 * H

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"
