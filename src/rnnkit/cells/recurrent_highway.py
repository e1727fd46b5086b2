"""Recurrent highway network cell (Zilly, Srivastava, Koutník & Schmidhuber, 2017)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.highway import check_gate_bias
from rnnkit.checks import check_bool, check_size


class RecurrentHighwayCell(RecurrentCell):
    r"""Recurrent highway network cell of recurrence depth ``L`` (Zilly, Srivastava, Koutník &
    Schmidhuber, "Recurrent Highway Networks", ICML 2017).

    Each time step runs ``L`` highway micro-layers; the input enters only the first one:

    .. math::
        s_0 = s_{t-1}  \quad (= s_L \text{ of the previous step})
        h_l = \tanh(W_H x_t [l = 1] + R_{H,l} s_{l-1} + b_{H,l})
        t_l = \sigma(W_T x_t [l = 1] + R_{T,l} s_{l-1} + b_{T,l})
        c_l = 1 - t_l \quad \text{(coupled)} \quad \text{or} \quad
              \sigma(W_C x_t [l = 1] + R_{C,l} s_{l-1} + b_{C,l})
        s_l = h_l \odot t_l + s_{l-1} \odot c_l, \qquad l = 1 .. L
        s_t = h_t^{out} = s_L

    ``h_l`` passes through ``self.candidate`` (recurrent dropout hook) before the update.

    Parameters, with ``K = 2`` gates blocks when ``coupled`` (``H, T``) and ``K = 3``
    otherwise (``H, T, C``):

    - ``weight_ih`` (KH, D), packed ``(W_H | W_T [| W_C])``; no input bias (the biases live
      with the micro-layers);
    - ``weight_hh`` (L, KH, H): ``weight_hh[l-1]`` is ``(R_{H,l} | R_{T,l} [| R_{C,l}])``;
    - ``bias_hh`` (L, KH): ``bias_hh[l-1]`` is ``(b_{H,l} | b_{T,l} [| b_{C,l}])``.

    Count: ``KH(D + L(H + 1))``.

    Init: weights and ``b_H`` uniform(-1/sqrt(H), 1/sqrt(H)) (torch's default); the transform
    biases ``b_T = gate_bias`` (negative, as the paper recommends, so each micro-layer starts
    by carrying its state); uncoupled carry biases ``b_C = -gate_bias`` so the uncoupled cell
    starts as open-carry as the coupled one.

    Args:
        input_size: ``D``.
        hidden_size: ``H``.
        depth: recurrence depth ``L`` (number of micro-layers per time step), >= 1.
        coupled: carry gate ``c = 1 - t`` (True) or a gate of its own (False).
        gate_bias: initial transform-gate bias (any real number; default -2).

    State: a tensor ``s`` (B, H), zeros initially. Shapes: x (B, D) -> h (B, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        depth: int = 3,
        coupled: bool = True,
        gate_bias: float = -2.0,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.depth = check_size("depth", depth)
        self.coupled = check_bool("coupled", coupled)
        self.gate_bias = check_gate_bias(gate_bias)
        self.num_blocks = 2 if coupled else 3
        rows = self.num_blocks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(depth, rows, hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(depth, rows))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)); ``b_T = gate_bias``; ``b_C = -gate_bias``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        H = self.hidden_size
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)
            self.bias_hh[:, H : 2 * H].fill_(self.gate_bias)
            if not self.coupled:
                self.bias_hh[:, 2 * H :].fill_(-self.gate_bias)

    def project_input(self, x: Tensor) -> Tensor:
        """(..., D) -> (..., KH): the input's share of the first micro-layer, ``W x``."""
        return F.linear(x, self.weight_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        s = state  # (B, H)
        for layer in range(self.depth):  # micro-layer l = layer + 1
            pre = F.linear(s, self.weight_hh[layer], self.bias_hh[layer])  # (B, KH)
            if layer == 0:
                pre = pre + gx
            blocks = pre.chunk(self.num_blocks, dim=-1)
            h = self.candidate(torch.tanh(blocks[0]))
            t = torch.sigmoid(blocks[1])
            c = 1.0 - t if self.coupled else torch.sigmoid(blocks[2])
            s = h * t + s * c  # (B, H)
        return s, s

    def num_parameters(self) -> int:
        """``KH(D + L(H + 1))`` with ``K = 2`` (coupled) or 3."""
        D, H, L = self.input_size, self.hidden_size, self.depth
        return self.num_blocks * H * (D + L * (H + 1))

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, depth={self.depth}, "
            f"coupled={self.coupled}, gate_bias={self.gate_bias}"
        )
