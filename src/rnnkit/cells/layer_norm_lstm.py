"""Layer-normalized LSTM (Ba, Kiros & Hinton, 2016)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import MemoryCell
from rnnkit.cells.state import LSTMState
from rnnkit.checks import check_bool, check_finite, check_positive


class LayerNormLSTMCell(MemoryCell):
    r"""LSTM with layer normalization (Ba, Kiros & Hinton, 2016, "Layer Normalization", eq. 20-22).

    .. math::
        a_t = \mathrm{LN}_x(W_{ih} x_t) + \mathrm{LN}_h(W_{hh} h_{t-1}) + b
        i_t, f_t, g_t, o_t = \mathrm{split}_4(a_t)
        c_t = \sigma(f_t) \odot c_{t-1} + \sigma(i_t) \odot \tanh(g_t)
        h_t = \sigma(o_t) \odot \tanh(\mathrm{LN}_c(c_t))

    where :math:`\mathrm{LN}(v) = \gamma \odot (v - \mu(v)) / \sqrt{\sigma^2(v) + \epsilon} + \beta`
    with mean and (biased) variance taken over the feature dimension of each example.

    Variant choices (the paper's, stated explicitly):

    - the input and recurrent pre-activations are normalized **separately**, each over all
      4H gate units at once (not per gate), each with its own learned gain and bias
      (``norm_ih.weight``/``norm_ih.bias`` and ``norm_hh.weight``/``norm_hh.bias``, (4H,));
    - the bias ``b`` is added after normalization;
    - ``norm_cell=True`` normalizes :math:`c_t` (with gain and bias ``norm_c``, (H,)) before
      the output tanh only; the state keeps the un-normalized :math:`c_t`. With
      ``norm_cell=False`` the last line is :math:`h_t = \sigma(o_t) \odot \tanh(c_t)`.

    Parameters: ``weight_ih`` (4H, D) and ``weight_hh`` (4H, H), packed (i | f | g | o) as in
    ``torch.nn.LSTMCell``; ``bias`` (4H,). Init: weights uniform(-1/sqrt(H), 1/sqrt(H)) (torch's
    default); ``bias`` zeros except its forget slice, set to ``forget_bias``; LN gains 1, LN
    biases 0. ``project_input(x)`` returns :math:`\mathrm{LN}_x(W_{ih} x)` (B, 4H), so layers can
    hoist it. The candidate :math:`\tanh(g_t)` passes through ``self.candidate``.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, features of h_t and c_t.
        forget_bias: initial value of the forget slice of ``bias`` (any finite float).
        norm_cell: apply LN_c to c_t before the output tanh.
        eps: the epsilon of every LN, > 0.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        forget_bias: float = 1.0,
        norm_cell: bool = True,
        eps: float = 1e-5,
    ) -> None:
        super().__init__(input_size, hidden_size)
        check_positive("eps", eps)
        H, D = hidden_size, input_size
        self.forget_bias = check_finite("forget_bias", forget_bias)
        self.norm_cell = check_bool("norm_cell", norm_cell)
        self.eps = float(eps)
        self.weight_ih = nn.Parameter(torch.empty(4 * H, D))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))
        self.bias = nn.Parameter(torch.empty(4 * H))
        self.norm_ih = nn.LayerNorm(4 * H, eps=self.eps)
        self.norm_hh = nn.LayerNorm(4 * H, eps=self.eps)
        self.norm_c = nn.LayerNorm(H, eps=self.eps) if norm_cell else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights uniform(-1/sqrt(H), 1/sqrt(H)); bias 0 with forget slice ``forget_bias``."""
        H = self.hidden_size
        bound = 1.0 / math.sqrt(H)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        with torch.no_grad():
            self.bias.zero_()
            self.bias[H : 2 * H].fill_(self.forget_bias)
        for norm in (self.norm_ih, self.norm_hh, self.norm_c):
            if norm is not None:
                norm.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """LN_x(W_ih x): (..., D) -> (..., 4H)."""
        return self.norm_ih(F.linear(x, self.weight_ih))

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One step from ``gx = LN_x(W_ih x_t)`` (B, 4H) and ``LSTMState(h, c)``."""
        h, c = state
        gates = gx + self.norm_hh(F.linear(h, self.weight_hh)) + self.bias  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c = f.sigmoid() * c + i.sigmoid() * self.candidate(g.tanh())  # (B, H)
        c_out = c if self.norm_c is None else self.norm_c(c)
        h = o.sigmoid() * c_out.tanh()  # (B, H)
        return h, LSTMState(h, c)

    def num_parameters(self) -> int:
        """4H(D + H + 1) weights and bias, 2 * 2 * 4H LN gains/biases, 2H for LN_c."""
        D, H = self.input_size, self.hidden_size
        return 4 * H * (D + H + 1) + 16 * H + (2 * H if self.norm_cell else 0)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, forget_bias={self.forget_bias}, "
            f"norm_cell={self.norm_cell}, eps={self.eps}"
        )
