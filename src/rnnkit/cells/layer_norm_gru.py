"""Layer-normalized GRU (Ba, Kiros & Hinton, 2016, applied to the GRU of Cho et al., 2014)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.checks import check_positive


class LayerNormGRUCell(RecurrentCell):
    r"""GRU with layer normalization on its input and recurrent pre-activations.

    .. math::
        a^x_t = \mathrm{LN}_x(W_{ih} x_t), \quad a^h_t = \mathrm{LN}_h(W_{hh} h_{t-1})
        r_t = \sigma(a^x_{t,r} + a^h_{t,r})
        z_t = \sigma(a^x_{t,z} + a^h_{t,z})
        n_t = \tanh(a^x_{t,n} + r_t \odot a^h_{t,n})
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    where :math:`\mathrm{LN}(v) = \gamma \odot (v - \mu(v)) / \sqrt{\sigma^2(v) + \epsilon} + \beta`
    with mean and (biased) variance over the feature dimension of each example, and
    :math:`a_{t,r}, a_{t,z}, a_{t,n}` the three H-slices of a (3H) pre-activation.

    Variant choices (stated explicitly): this is ``torch.nn.GRUCell``'s "reset after" form
    (the reset gate multiplies the normalized recurrent part of the candidate); the input
    and recurrent pre-activations are normalized **separately**, each over all 3H units at
    once, with its own learned gain and bias. The LN biases :math:`\beta_x, \beta_h` take the
    places of torch's ``bias_ih`` and ``bias_hh`` (in particular :math:`\beta_{h,n}` sits
    inside :math:`r_t \odot \cdot`), so the cell has no other bias.

    Parameters: ``weight_ih`` (3H, D) and ``weight_hh`` (3H, H), packed (r | z | n) as in
    ``torch.nn.GRUCell``; ``norm_ih.weight``, ``norm_ih.bias``, ``norm_hh.weight``,
    ``norm_hh.bias`` (3H,). Init: weights uniform(-1/sqrt(H), 1/sqrt(H)) (torch's default),
    LN gains 1 and biases 0. ``project_input(x)`` returns :math:`\mathrm{LN}_x(W_{ih} x)` (B, 3H)
    for hoisting. The candidate :math:`n_t` passes through ``self.candidate``.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, features of h_t.
        eps: the epsilon of both LNs, > 0.
    """

    def __init__(self, input_size: int, hidden_size: int, *, eps: float = 1e-5) -> None:
        super().__init__(input_size, hidden_size)
        check_positive("eps", eps)
        H, D = hidden_size, input_size
        self.eps = float(eps)
        self.weight_ih = nn.Parameter(torch.empty(3 * H, D))
        self.weight_hh = nn.Parameter(torch.empty(3 * H, H))
        self.norm_ih = nn.LayerNorm(3 * H, eps=self.eps)
        self.norm_hh = nn.LayerNorm(3 * H, eps=self.eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights uniform(-1/sqrt(H), 1/sqrt(H)); LN gains 1, LN biases 0."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        self.norm_ih.reset_parameters()
        self.norm_hh.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """LN_x(W_ih x): (..., D) -> (..., 3H)."""
        return self.norm_ih(F.linear(x, self.weight_ih))

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step from ``gx = LN_x(W_ih x_t)`` (B, 3H) and ``h_{t-1}`` (B, H)."""
        h = state
        gh = self.norm_hh(F.linear(h, self.weight_hh))  # (B, 3H)
        xr, xz, xn = gx.chunk(3, dim=-1)  # (B, H) each
        hr, hz, hn = gh.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = self.candidate(torch.tanh(xn + r * hn))
        h = (1 - z) * n + z * h  # (B, H)
        return h, h

    def num_parameters(self) -> int:
        """3H(D + H) weights and 2 * 2 * 3H LN gains/biases: 3H(D + H + 4)."""
        return 3 * self.hidden_size * (self.input_size + self.hidden_size + 4)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, eps={self.eps}"
