"""The LSTM with a forget gate, torch's layout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.activations import tanh
from rnnkit.cells.base import MemoryCell
from rnnkit.cells.state import LSTMState
from rnnkit.checks import check_bool, check_finite


class LSTMCell(MemoryCell):
    r"""Long short-term memory with a forget gate (Gers, Schmidhuber & Cummins, 1999/2000).

    .. math::
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})
        f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf})
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})
        c_t = f_t \odot c_{t-1} + i_t \odot g_t
        h_t = o_t \odot \tanh(c_t)

    Gers et al., "Learning to Forget: Continual Prediction with LSTM" (Neural Computation
    2000), added ``f_t`` to the original cell (:class:`~rnnkit.cells.original_lstm.
    OriginalLSTMCell`) so that the memory can be reset.

    Parameter layout exactly as ``torch.nn.LSTMCell`` (state dicts load both ways), packed
    in gate order (i, f, g, o): ``weight_ih`` (4H, D) = (W_ii | W_if | W_ig | W_io),
    ``weight_hh`` (4H, H) = (W_hi | W_hf | W_hg | W_ho), ``bias_ih`` = (b_ii | b_if | b_ig |
    b_io) and ``bias_hh`` (4H,). State: ``LSTMState(h, c)``, each (B, H).

    Init: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)) in torch's order (so with the
    same seed and ``forget_bias=0`` the weights equal ``torch.nn.LSTMCell``'s), then
    ``forget_bias`` is **added** to the forget slice of ``bias_ih``, ``bias_ih[H:2H]``.
    ``bias_hh[H:2H]`` keeps its uniform draw, so the total forget bias at init is
    ``forget_bias + u_1 + u_2`` with ``u_1, u_2 ~ U(-1/sqrt(H), 1/sqrt(H))``: centred on
    ``forget_bias``. A positive forget bias (Gers et al. 2000; Jozefowicz et al. 2015
    recommend 1) starts the cell remembering. Without ``bias`` there is nothing to add to
    and ``forget_bias`` is ignored.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, memory cells.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
        forget_bias: added to ``bias_ih[H:2H]`` at init (any finite number).
    """

    def __init__(
        self, input_size: int, hidden_size: int, *, bias: bool = True, forget_bias: float = 1.0
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.bias = check_bool("bias", bias)
        self.forget_bias = check_finite("forget_bias", forget_bias)
        self.add_affine_parameters(4, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's uniform init, then ``forget_bias`` added to ``bias_ih[H:2H]``."""
        H = self.hidden_size
        self.reset_uniform()
        if self.bias:
            with torch.no_grad():
                self.bias_ih[H : 2 * H] += self.forget_bias

    def project_input(self, x: Tensor) -> Tensor:
        """The x-part of the four gates, (..., D) -> (..., 4H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        gates = torch.addmm(gx, h, self.weight_hh.t())  # (B, 4H): one pass, no temporary
        if self.bias_hh is not None:
            gates.add_(self.bias_hh)
        return self._update(gates, c)

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """One step from x: both products accumulate in one (B, 4H) buffer.

        ``step(project_input(x))`` would copy the projected input into a second buffer, a
        pass over B × 4H floats that costs as much as a small product (a decoder's step).
        """
        h, c = self.zero_state(x) if state is None else state
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh  # b_ih + b_hh (4H,)
        gates = F.linear(x, self.weight_ih, b).addmm_(h, self.weight_hh.t())  # (B, 4H)
        return self._update(gates, c)

    def _update(self, gates: Tensor, c: Tensor) -> tuple[Tensor, LSTMState]:
        """The gates' pre-activations (B, 4H) and c_{t-1} -> h_t, (h_t, c_t)."""
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.candidate(tanh(g))
        h = torch.sigmoid(o) * tanh(c)
        return h, LSTMState(h, c)

    def num_parameters(self) -> int:
        """4H(D + H + 2) with biases, 4H(D + H) without."""
        H, D = self.hidden_size, self.input_size
        return 4 * H * (D + H + (2 if self.bias else 0))

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, bias={self.bias}, "
            f"forget_bias={self.forget_bias}"
        )
