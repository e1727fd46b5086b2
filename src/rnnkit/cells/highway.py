"""Highway layers (Srivastava, Greff & Schmidhuber, 2015): a gated mix of transform and input."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.checks import check_choice, check_size

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda v: v,
}


def check_gate_bias(value: float) -> float:
    """Validate a gate-bias initial value: any real number, ``-inf`` allowed, NaN refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"gate_bias must be a real number (e.g. -2.0), got {value!r}")
    return float(value)


class Highway(nn.Module):
    r"""A stack of highway layers (Srivastava, Greff & Schmidhuber, "Training Very Deep
    Networks", NeurIPS 2015; "Highway Networks", arXiv:1505.00387).

    Each layer ``k = 0 .. num_layers-1`` maps ``x`` (..., size) to ``y`` (..., size):

    .. math::
        H(x) = \phi(W_H x + b_H)
        T(x) = \sigma(W_T x + b_T)
        y = H(x) \odot T(x) + x \odot (1 - T(x))

    ``T`` is the transform gate and ``1 - T`` the carry gate; ``\phi`` is ``activation``
    (``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"identity"``). A shut gate (``b_T \to -\infty``)
    makes the layer the identity, an open one (``b_T \to +\infty``) a plain layer ``H``.

    This is a plain ``nn.Module`` applied position-wise (no state, no time); the recurrent
    version is :class:`rnnkit.cells.recurrent_highway.RecurrentHighwayCell`.

    Parameters: ``layers[k]`` is an ``nn.Linear(size, 2 * size)`` whose weight (2S, S) is packed
    ``(W_H | W_T)`` and bias (2S,) ``(b_H | b_T)``, so the count is ``num_layers * 2S(S + 1)``.

    Init: torch's default for ``nn.Linear`` (uniform(-1/sqrt(S), 1/sqrt(S))) except
    ``b_T = gate_bias``. The paper recommends a negative transform bias (-1 to -3 depending on
    depth) so that every layer starts close to carrying its input through; default -2.

    Args:
        size: feature size ``S`` of input and output.
        num_layers: number of highway layers applied in turn.
        activation: the nonlinearity ``\phi`` of the transform ``H``.
        gate_bias: initial value of every transform-gate bias ``b_T`` (any real number,
            ``-inf`` included; NaN is refused).

    Shapes: input (..., S) -> output (..., S).
    """

    def __init__(
        self,
        size: int,
        *,
        num_layers: int = 1,
        activation: str = "relu",
        gate_bias: float = -2.0,
    ) -> None:
        super().__init__()
        self.size = check_size("size", size)
        self.num_layers = check_size("num_layers", num_layers)
        self.activation = check_choice("activation", activation, tuple(ACTIVATIONS))
        self.gate_bias = check_gate_bias(gate_bias)
        self.layers = nn.ModuleList(nn.Linear(size, 2 * size) for _ in range(num_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's default Linear init, then the transform-gate biases set to ``gate_bias``."""
        with torch.no_grad():
            for layer in self.layers:
                layer.reset_parameters()
                layer.bias[self.size :].fill_(self.gate_bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the highway layers, (..., S) -> (..., S)."""
        phi = ACTIVATIONS[self.activation]
        for layer in self.layers:
            pre_h, pre_t = F.linear(x, layer.weight, layer.bias).chunk(2, dim=-1)  # (..., S) each
            t = torch.sigmoid(pre_t)
            x = phi(pre_h) * t + x * (1.0 - t)
        return x

    def num_parameters(self) -> int:
        """``num_layers * 2S(S + 1)``."""
        return self.num_layers * 2 * self.size * (self.size + 1)

    def extra_repr(self) -> str:
        return (
            f"{self.size}, num_layers={self.num_layers}, activation={self.activation!r}, "
            f"gate_bias={self.gate_bias}"
        )
