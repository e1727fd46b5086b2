"""The independently recurrent cell: each unit sees only its own past."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.checks import check_choice

NONLINEARITIES = ("relu", "tanh")


def check_max_abs(name: str, value: float | None) -> float | None:
    """Validate an optional positive, finite bound."""
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be None or a positive finite number, got {value!r}")
    return float(value)


class IndRNNCell(RecurrentCell):
    r"""Independently recurrent neural network cell (Li et al., 2018).

    .. math::
        h_t = f(W x_t + u \odot h_{t-1} + b)

    Li, Li, Cook, Zhu & Gao, "Independently Recurrent Neural Network (IndRNN): Building
    A Longer and Deeper RNN" (CVPR 2018). The recurrent weight is a vector: unit ``n``
    sees only its own previous value, through ``u_n``, so the gradient through ``T`` steps
    is ``prod_t u_n f'(.)`` and is kept in range by bounding ``|u_n|``; the paper's
    constraint for a ReLU IndRNN over ``T`` steps is ``|u_n| <= gamma^(1/T)`` for a
    chosen largest gradient factor ``gamma`` (e.g. ``recurrent_max_abs=2 ** (1 / T)``).

    Parameters: ``weight_ih = W`` (H, D), ``weight_hh = u`` (H,), ``bias_ih = b`` (H,).
    State: ``h`` (B, H).

    ``recurrent_max_abs``: if set, the forward pass uses ``u.clamp(-m, m)`` with
    ``m = recurrent_max_abs`` (the stored parameter is not changed, so an entry beyond the
    bound gets zero gradient, as ``clamp`` gives, until an update moves it back). The
    initial ``u`` is drawn inside the bound as well.

    Init: ``weight_ih`` and ``bias_ih`` uniform in (-1/sqrt(H), 1/sqrt(H)) as torch does;
    ``weight_hh`` uniform in (-a, a) with ``a = min(1, recurrent_max_abs)`` (the
    convention of the TensorFlow IndRNN cell whose option name we adopt).

    Args:
        input_size: D, features of x_t.
        hidden_size: H, units of h_t.
        nonlinearity: ``"relu"`` (the paper's choice) or ``"tanh"``.
        recurrent_max_abs: bound on ``|u|`` applied in every forward pass, or None.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "relu",
        recurrent_max_abs: float | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self.recurrent_max_abs = check_max_abs("recurrent_max_abs", recurrent_max_abs)
        H, D = hidden_size, input_size
        self.weight_ih = nn.Parameter(torch.empty(H, D))
        self.weight_hh = nn.Parameter(torch.empty(H))
        self.bias_ih = nn.Parameter(torch.empty(H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's uniform init for W and b; u uniform in (-a, a), a = min(1, max_abs)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.bias_ih, -bound, bound)
        a = 1.0 if self.recurrent_max_abs is None else min(1.0, self.recurrent_max_abs)
        nn.init.uniform_(self.weight_hh, -a, a)

    def recurrent_weight(self) -> Tensor:
        """The ``u`` the forward pass uses: ``weight_hh`` clamped to the bound, (H,)."""
        m = self.recurrent_max_abs
        return self.weight_hh if m is None else self.weight_hh.clamp(-m, m)

    def project_input(self, x: Tensor) -> Tensor:
        """W x_t + b, (..., D) -> (..., H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        pre = gx + self.recurrent_weight() * state  # (B, H)
        h = torch.relu(pre) if self.nonlinearity == "relu" else torch.tanh(pre)
        return h, h

    def num_parameters(self) -> int:
        """HD + 2H: W, u and b."""
        H, D = self.hidden_size, self.input_size
        return H * D + 2 * H

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"recurrent_max_abs={self.recurrent_max_abs}"
        )
