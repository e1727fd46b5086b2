"""Phased LSTM (Neil, Pfeiffer & Liu, 2016): an LSTM whose updates are gated by a learned clock."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import MemoryCell
from rnnkit.cells.state import LSTMState
from rnnkit.checks import check_range


class PhasedLSTMCell(MemoryCell):
    r"""Phased LSTM (Neil, Pfeiffer & Liu, 2016, "Phased LSTM: Accelerating Recurrent Network
    Training for Long or Event-based Sequences", eq. 6-11).

    **Input layout: each step's input has ``input_size + 1`` columns; the LAST column is the
    timestamp** :math:`t` of the step (any real time, not necessarily evenly spaced). Build it
    with :meth:`PhasedLSTMCell.with_time`. ``project_input`` maps the first D columns through
    :math:`W_{ih}` and carries the time column along: (..., D + 1) -> (..., 4H + 1).

    .. math::
        i_t, f_t, g_t, o_t = \mathrm{split}_4(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})
        \tilde c_t = \sigma(f_t) \odot c_{t-1} + \sigma(i_t) \odot \tanh(g_t)
        \tilde h_t = \sigma(o_t) \odot \tanh(\tilde c_t)
        \phi_t = ((t - s) \bmod \tau) / \tau
        k_t = 2 \phi_t / r_{on}        \text{ if } \phi_t < r_{on} / 2
        k_t = 2 - 2 \phi_t / r_{on}    \text{ if } r_{on} / 2 \le \phi_t < r_{on}
        k_t = \alpha \phi_t            \text{ otherwise}
        c_t = k_t \odot \tilde c_t + (1 - k_t) \odot c_{t-1}
        h_t = k_t \odot \tilde h_t + (1 - k_t) \odot h_{t-1}

    ``mod`` is the floored modulo (``torch.remainder``), so :math:`\phi_t \in [0, 1)` also for
    :math:`t < s`. The leak :math:`\alpha` applies in training mode only; in eval mode
    :math:`\alpha = 0`, so a unit whose gate is closed keeps its state exactly.

    Variant choices: :math:`\tilde c_t, \tilde h_t` are the standard (no peephole) LSTM update,
    exactly ``torch.nn.LSTMCell``; :math:`\tau` and :math:`s` are learned per unit and
    trained directly (as in the paper; keep their learning rate small, :math:`\tau` must stay
    positive); :math:`r_{on}` and :math:`\alpha` are fixed hyper-parameters.

    Parameters: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh`` (4H,),
    packed (i | f | g | o) as in ``torch.nn.LSTMCell``; ``tau`` and ``shift`` (H,). Init:
    weights and biases uniform(-1/sqrt(H), 1/sqrt(H)) (torch's default); ``tau`` exp-uniform,
    :math:`\log\tau \sim U(\log\tau_{lo}, \log\tau_{hi})`; ``shift`` :math:`\sim U(0, \tau)`.
    The candidate :math:`\tanh(g_t)` passes through ``self.candidate``.

    Args:
        input_size: D, features of x_t, not counting the time column.
        hidden_size: H, features of h_t and c_t.
        tau_range: (low, high) of the period init, 0 < low <= high.
        r_on: open ratio, the fraction of the period the gate is open, in (0, 1].
        leak: alpha, slope of the gate in its closed phase during training, in [0, 1).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        tau_range: tuple[float, float] = (1.0, 1000.0),
        r_on: float = 0.05,
        leak: float = 1e-3,
    ) -> None:
        super().__init__(input_size, hidden_size)
        if (
            not isinstance(tau_range, (tuple, list))
            or len(tau_range) != 2
            or not 0 < tau_range[0] <= tau_range[1] < math.inf
        ):
            raise ValueError(
                f"tau_range must be (low, high) with 0 < low <= high, got {tau_range!r}"
            )
        if not isinstance(r_on, (int, float)) or not 0 < r_on <= 1:
            raise ValueError(f"r_on must be in (0, 1], got {r_on!r}")
        self.tau_range = (float(tau_range[0]), float(tau_range[1]))
        self.r_on = float(r_on)
        self.leak = float(check_range("leak", leak, 0.0, 1.0))
        H, D = hidden_size, input_size
        self.weight_ih = nn.Parameter(torch.empty(4 * H, D))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))
        self.bias_ih = nn.Parameter(torch.empty(4 * H))
        self.bias_hh = nn.Parameter(torch.empty(4 * H))
        self.tau = nn.Parameter(torch.empty(H))
        self.shift = nn.Parameter(torch.empty(H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """LSTM weights uniform(-1/sqrt(H), 1/sqrt(H)); tau exp-uniform; shift U(0, tau)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            nn.init.uniform_(weight, -bound, bound)
        low, high = (math.log(v) for v in self.tau_range)
        with torch.no_grad():
            self.tau.copy_(torch.empty_like(self.tau).uniform_(low, high).exp())
            self.shift.copy_(torch.rand_like(self.shift) * self.tau)

    @staticmethod
    def with_time(x: Tensor, t: Tensor) -> Tensor:
        """Append timestamps as the last input column.

        Args:
            x: inputs (..., D).
            t: timestamps (...) or (..., 1), with x's leading dimensions.

        Returns:
            (..., D + 1), the layout :class:`PhasedLSTMCell` reads.
        """
        if t.shape not in ((*x.shape[:-1],), (*x.shape[:-1], 1)):
            raise ValueError(
                f"t must have shape {tuple(x.shape[:-1])} or {(*x.shape[:-1], 1)}, "
                f"got {tuple(t.shape)}"
            )
        t = t.reshape(*x.shape[:-1], 1)
        return torch.cat([x, t.to(x.dtype)], dim=-1)

    def project_input(self, x: Tensor) -> Tensor:
        """(..., D + 1) -> (..., 4H + 1): W_ih x + b_ih, then the time column unchanged."""
        if x.shape[-1] != self.input_size + 1:
            raise ValueError(
                f"PhasedLSTMCell expects input_size + 1 = {self.input_size + 1} columns "
                f"(the last is the timestamp, see with_time), got {x.shape[-1]}"
            )
        gx = F.linear(x[..., :-1], self.weight_ih, self.bias_ih)  # (..., 4H)
        return torch.cat([gx, x[..., -1:]], dim=-1)

    def time_gate(self, t: Tensor) -> Tensor:
        """Openness k_t of every unit at timestamps t: (B, 1) -> (B, H)."""
        phi = torch.remainder(t - self.shift, self.tau) / self.tau  # (B, H)
        rising = 2 * phi / self.r_on
        closed = self.leak * phi if self.training else torch.zeros_like(phi)
        k = torch.where(phi < self.r_on, 2 - rising, closed)
        return torch.where(phi < self.r_on / 2, rising, k)

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One step from ``gx = project_input(x_t)`` (B, 4H + 1) and ``LSTMState(h, c)``."""
        h, c = state
        t = gx[:, -1:]  # (B, 1)
        gates = gx[:, :-1] + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c_tilde = f.sigmoid() * c + i.sigmoid() * self.candidate(g.tanh())
        h_tilde = o.sigmoid() * c_tilde.tanh()
        k = self.time_gate(t)  # (B, H)
        c = k * c_tilde + (1 - k) * c
        h = k * h_tilde + (1 - k) * h
        return h, LSTMState(h, c)

    def num_parameters(self) -> int:
        """4H(D + H + 2) for the LSTM, 2H for tau and shift."""
        D, H = self.input_size, self.hidden_size
        return 4 * H * (D + H + 2) + 2 * H

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, tau_range={self.tau_range}, "
            f"r_on={self.r_on}, leak={self.leak}"
        )
