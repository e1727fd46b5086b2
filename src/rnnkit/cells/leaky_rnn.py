"""The leaky-integrator recurrent cell: a simple RNN whose units move only part way each step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.checks import check_choice

NONLINEARITIES = ("tanh", "relu")


def check_alpha(name: str, value: float) -> float:
    """Validate a rate in (0, 1]."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and 0 < value <= 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


class LeakyRNNCell(RecurrentCell):
    r"""Recurrent cell of leaky-integrator units.

    .. math::
        \tilde h_t = f(W x_t + U h_{t-1} + b)
        h_t = (1 - \alpha) h_{t-1} + \alpha \tilde h_t

    Each unit is the Euler discretization, with step ``alpha = Δt / τ``, of the
    continuous-time unit ``τ dh/dt = -h + f(W x + U h + b)``: it moves a fraction ``alpha``
    of the way to its new target each step, so it forgets with time constant ``1/alpha``
    steps (Jaeger, Lukoševičius, Popovici & Siewert 2007, "Optimization and Applications
    of Echo State Networks with Leaky-Integrator Neurons"; Bengio, Boulanger-Lewandowski &
    Pascanu 2013, "Advances in Optimizing Recurrent Networks"). ``alpha = 1`` is the
    simple RNN, :class:`~rnnkit.cells.simple_rnn.SimpleRNNCell`.

    Parameters, as in ``torch.nn.RNNCell`` (whose state dict loads both ways):
    ``weight_ih = W`` (H, D), ``weight_hh = U`` (H, H), and ``b = bias_ih + bias_hh``,
    each (H,). The target ``\tilde h_t`` is the candidate (passed through
    ``self.candidate``). State: ``h`` (B, H).
    Init: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), as in torch.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, units of h_t.
        alpha: leak rate in (0, 1], the fraction of the way to the target taken per step.
        nonlinearity: ``"tanh"`` or ``"relu"``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        alpha: float = 0.5,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.alpha = check_alpha("alpha", alpha)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        H, D = hidden_size, input_size
        self.weight_ih = nn.Parameter(torch.empty(H, D))
        self.weight_hh = nn.Parameter(torch.empty(H, H))
        self.bias_ih = nn.Parameter(torch.empty(H))
        self.bias_hh = nn.Parameter(torch.empty(H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        self.reset_uniform()

    def project_input(self, x: Tensor) -> Tensor:
        """W x_t + bias_ih, (..., D) -> (..., H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        pre = gx + F.linear(h, self.weight_hh, self.bias_hh)  # (B, H)
        target = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        h = (1 - self.alpha) * h + self.alpha * self.candidate(target)
        return h, h

    def num_parameters(self) -> int:
        """H(D + H + 2)."""
        H, D = self.hidden_size, self.input_size
        return H * (D + H + 2)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, alpha={self.alpha}, "
            f"nonlinearity={self.nonlinearity!r}"
        )
