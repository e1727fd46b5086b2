"""The gated recurrent unit, in torch/cuDNN's form and in Cho et al.'s original form."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.activations import tanh
from rnnkit.cells.base import RecurrentCell
from rnnkit.checks import check_bool


class GRUCell(RecurrentCell):
    r"""Gated recurrent unit (Cho et al., 2014), two placements of the reset gate.

    ``reset_after=True`` (default) is the form of ``torch.nn.GRUCell`` and cuDNN: the reset
    gate scales the *projected* old state.

    .. math::
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    ``reset_after=False`` is Cho et al., "Learning Phrase Representations using RNN
    Encoder-Decoder for Statistical Machine Translation" (EMNLP 2014), as taught in NPFL114
    (there ``u = z``, ``W = W_{in}``, ``V = W_{hn}``, ``b = b_{in} + b_{hn}``,
    ``\hat h_t = n_t``): the reset gate scales the old state *before* its projection.
    ``r_t`` and ``z_t`` are as above and

    .. math::
        n_t = \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    Two conventions for the update gate are in use, and they differ by ``z -> 1 - z``:

    - ``h_t = u_t ⊙ h_{t-1} + (1 - u_t) ⊙ ĥ_t``: the gate says how much of the old state
      to *keep* (Cho et al. 2014, NPFL114, torch, cuDNN, Keras). **This code uses it**,
      with ``u = z``.
    - ``h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t``: the gate says how much of the candidate
      to *write* (Chung et al. 2014, "Empirical Evaluation of Gated Recurrent Neural
      Networks on Sequence Modeling"). Weights trained this way load here after negating
      the z rows of ``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh`` (since
      ``1 - σ(a) = σ(-a)``).

    Parameters, the same names, shapes and gate order (r, z, n) as ``torch.nn.GRUCell`` in
    both forms: ``weight_ih`` (3H, D) = (W_ir | W_iz | W_in), ``weight_hh`` (3H, H) =
    (W_hr | W_hz | W_hn), ``bias_ih`` = (b_ir | b_iz | b_in) and ``bias_hh`` = (b_hr | b_hz |
    b_hn), each (3H,). With ``reset_after=False`` the step runs two GEMMs on the old state,
    one for the r and z rows and one for the n rows on ``r ⊙ h``. State: ``h`` (B, H).
    Init: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), as in torch.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, units of h_t.
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
        reset_after: apply the reset gate after (torch/cuDNN) or before (Cho et al.) the
            recurrent projection of the candidate.
    """

    def __init__(
        self, input_size: int, hidden_size: int, *, bias: bool = True, reset_after: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.bias = check_bool("bias", bias)
        self.reset_after = check_bool("reset_after", reset_after)
        self.add_affine_parameters(3, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        self.reset_uniform()

    def project_input(self, x: Tensor) -> Tensor:
        """The x-part of the three gates, (..., D) -> (..., 3H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        if self.reset_after:
            return self._step_reset_after(gx, h)
        return self._step_reset_before(gx, h)

    def _step_reset_after(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        gh = F.linear(h, self.weight_hh, self.bias_hh)  # (B, 3H)
        xr, xz, xn = gx.chunk(3, dim=-1)  # (B, H) each
        hr, hz, hn = gh.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = self.candidate(tanh(xn + r * hn))
        h = (1 - z) * n + z * h
        return h, h

    def _step_reset_before(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        b_rz, b_n = (None, None) if self.bias_hh is None else self.bias_hh.split([2 * H, H])
        w_rz, w_n = self.weight_hh.split([2 * H, H])  # (2H, H), (H, H)
        grz = gx[..., : 2 * H] + F.linear(h, w_rz, b_rz)  # (B, 2H)
        r, z = torch.sigmoid(grz).chunk(2, dim=-1)  # (B, H) each
        n = self.candidate(tanh(gx[..., 2 * H :] + F.linear(r * h, w_n, b_n)))
        h = (1 - z) * n + z * h
        return h, h

    def num_parameters(self) -> int:
        """3H(D + H + 2) with biases, 3H(D + H) without."""
        H, D = self.hidden_size, self.input_size
        return 3 * H * (D + H + (2 if self.bias else 0))

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, bias={self.bias}, "
            f"reset_after={self.reset_after}"
        )
