"""Batch-normalized LSTM (Cooijmans et al., 2016, "Recurrent Batch Normalization")."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.checks import check_finite, check_positive, check_range, check_size


class BNLSTMState(NamedTuple):
    """State of :class:`BatchNormLSTMCell`: ``h`` and ``c`` (B, H), step counter ``t`` (B, 1).

    ``t`` is a float tensor (so generic layers can mask it like any other field) holding
    the index of the next step of each sequence: 0 for a fresh state.
    """

    h: Tensor
    c: Tensor
    t: Tensor


class BatchNormLSTMCell(RecurrentCell):
    r"""LSTM with recurrent batch normalization (Cooijmans et al., 2016, eq. 6-8).

    .. math::
        a_t = \mathrm{BN}(W_{ih} x_t; \gamma_{ih}) + \mathrm{BN}(W_{hh} h_{t-1}; \gamma_{hh}) + b
        i_t, f_t, g_t, o_t = \mathrm{split}_4(a_t)
        c_t = \sigma(f_t) \odot c_{t-1} + \sigma(i_t) \odot \tanh(g_t)
        h_t = \sigma(o_t) \odot \tanh(\mathrm{BN}(c_t; \gamma_c, \beta_c))

    with :math:`\mathrm{BN}(v; \gamma, \beta) = \gamma \odot (v - \mu_t) / \sqrt{\sigma^2_t +
    \epsilon} + \beta`, per feature. As in the paper the two gate BNs have no shift
    (:math:`\beta_{ih} = \beta_{hh} = 0`): the shift lives in the separate bias ``b``.

    Statistics are **per time step** t (the state's counter, see :class:`BNLSTMState`):

    - training: :math:`\mu_t, \sigma^2_t` are the mean and biased variance over the batch
      (gradients flow through them); the running statistics of row
      :math:`k = \min(t, L - 1)` are updated as ``running = (1 - momentum) * running +
      momentum * batch`` (unbiased variance), where L = ``max_length``. The row is that of
      the largest t in the batch (the layer's step index when all sequences start together;
      sequences held by a length mask lag behind but share the batch). Needs batch > 1.
    - eval: each example uses the running statistics of its own row :math:`\min(t, L - 1)`.

    Steps at or beyond ``max_length - 1`` therefore all share (and, in training, all update)
    the last row.

    Parameters: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), packed (i | f | g | o) as in
    ``torch.nn.LSTMCell``; ``bias`` (4H,); ``gamma_ih``, ``gamma_hh`` (4H,); ``gamma_c``,
    ``beta_c`` (H,). Buffers ``running_mean_{ih,hh,c}`` and ``running_var_{ih,hh,c}``,
    (L, 4H) or (L, H), init 0 and 1. Init: weights uniform(-1/sqrt(H), 1/sqrt(H)) (torch's
    default), every :math:`\gamma` = ``gamma_init`` (the paper's 0.1), ``bias`` and
    :math:`\beta_c` 0. ``project_input`` is the identity (the input BN needs the step index,
    so the whole step runs in ``step(x, state)``). The candidate :math:`\tanh(g_t)` passes
    through ``self.candidate``.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, features of h_t and c_t.
        max_length: L, number of per-step statistics rows, >= 1.
        momentum: weight of the new batch statistics in the running update, in [0, 1].
        eps: added to the variance, > 0.
        gamma_init: initial value of every BN gain.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        max_length: int = 100,
        momentum: float = 0.1,
        eps: float = 1e-5,
        gamma_init: float = 0.1,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.max_length = check_size("max_length", max_length)
        self.momentum = float(check_range("momentum", momentum, 0.0, 1.0, high_open=False))
        check_positive("eps", eps)
        self.eps = float(eps)
        self.gamma_init = check_finite("gamma_init", gamma_init)
        H, D, L = hidden_size, input_size, max_length
        self.weight_ih = nn.Parameter(torch.empty(4 * H, D))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))
        self.bias = nn.Parameter(torch.empty(4 * H))
        self.gamma_ih = nn.Parameter(torch.empty(4 * H))
        self.gamma_hh = nn.Parameter(torch.empty(4 * H))
        self.gamma_c = nn.Parameter(torch.empty(H))
        self.beta_c = nn.Parameter(torch.empty(H))
        for name, size in (("ih", 4 * H), ("hh", 4 * H), ("c", H)):
            self.register_buffer(f"running_mean_{name}", torch.zeros(L, size))
            self.register_buffer(f"running_var_{name}", torch.ones(L, size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights uniform(-1/sqrt(H), 1/sqrt(H)); gains ``gamma_init``; shifts 0; fresh stats."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        for gamma in (self.gamma_ih, self.gamma_hh, self.gamma_c):
            nn.init.constant_(gamma, self.gamma_init)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.beta_c)
        self.reset_running_stats()

    def reset_running_stats(self) -> None:
        """Running means 0 and variances 1 for every step."""
        for name in ("ih", "hh", "c"):
            getattr(self, f"running_mean_{name}").zero_()
            getattr(self, f"running_var_{name}").fill_(1.0)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> BNLSTMState:
        """Zero ``BNLSTMState(h, c, t)``: h, c (B, H), t (B, 1)."""
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        t = torch.zeros(batch_size, 1, device=device, dtype=dtype)
        return BNLSTMState(h, torch.zeros_like(h), t)

    def _normalize(self, v: Tensor, rows: Tensor, name: str) -> Tensor:
        """(v - mu_t) / sqrt(var_t + eps) for v (B, G) with batch or running stats of ``rows``."""
        running_mean = getattr(self, f"running_mean_{name}")  # (L, G)
        running_var = getattr(self, f"running_var_{name}")
        if self.training:
            mean = v.mean(dim=0)  # (G,)
            var = v.var(dim=0, unbiased=False)
            k, n = int(rows.max()), v.shape[0]
            with torch.no_grad():
                running_mean[k].lerp_(mean.to(running_mean.dtype), self.momentum)
                unbiased = var.to(running_var.dtype) * (n / (n - 1))
                running_var[k].lerp_(unbiased, self.momentum)
        else:
            mean, var = running_mean[rows], running_var[rows]  # (B, G)
        return (v - mean) * torch.rsqrt(var + self.eps)

    def step(self, gx: Tensor, state: BNLSTMState) -> tuple[Tensor, BNLSTMState]:
        """One step from ``gx = x_t`` (B, D) and ``BNLSTMState(h, c, t)``."""
        h, c, t = state
        if self.training and gx.shape[0] < 2:
            raise ValueError(
                f"BatchNormLSTMCell needs a batch of at least 2 in training, got {gx.shape[0]}"
            )
        rows = t.detach().reshape(-1).long().clamp(0, self.max_length - 1)  # (B,)
        wx = self._normalize(F.linear(gx, self.weight_ih), rows, "ih")  # (B, 4H)
        wh = self._normalize(F.linear(h, self.weight_hh), rows, "hh")  # (B, 4H)
        gates = self.gamma_ih * wx + self.gamma_hh * wh + self.bias  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c = f.sigmoid() * c + i.sigmoid() * self.candidate(g.tanh())  # (B, H)
        c_hat = self.gamma_c * self._normalize(c, rows, "c") + self.beta_c
        h = o.sigmoid() * c_hat.tanh()  # (B, H)
        return h, BNLSTMState(h, c, t + 1)

    def num_parameters(self) -> int:
        """4H(D + H) weights, 4H bias, 2 * 4H gate gains, 2H for the cell BN: 4H(D+H+3) + 2H."""
        D, H = self.input_size, self.hidden_size
        return 4 * H * (D + H + 3) + 2 * H

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, max_length={self.max_length}, "
            f"momentum={self.momentum}, eps={self.eps}, gamma_init={self.gamma_init}"
        )
