"""The echo-state network reservoir: a fixed random recurrent cell, nothing trained."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.leaky_rnn import check_alpha
from rnnkit.checks import check_positive

#: How many sparse draws to try before giving up on a reservoir with spectral radius 0.
MAX_DRAWS = 100


def check_seed(name: str, value: int | None) -> int | None:
    """Validate an optional non-negative integer seed."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"{name} must be None or a non-negative integer, got {value!r}")
    return value


def spectral_radius(w: Tensor) -> float:
    """Largest |eigenvalue| of a square matrix, computed in float64."""
    return torch.linalg.eigvals(w.double()).abs().max().item()


class EchoStateCell(RecurrentCell):
    r"""Echo-state network reservoir (Jaeger, 2001), with leaky-integrator units.

    .. math::
        \tilde h_t = \tanh(W_{in} x_t + W h_{t-1})
        h_t = (1 - a) h_{t-1} + a \tilde h_t

    Jaeger, "The 'echo state' approach to analysing and training recurrent neural
    networks" (GMD Report 148, 2001); the leak rate ``a`` as in Jaeger et al. 2007. The
    reservoir is drawn once and never trained: only a readout on top of ``h`` learns (e.g.
    by ridge regression). ``W_in`` and ``W`` are buffers, not parameters, so the cell has
    no trainable parameters (``num_parameters() == 0``), yet they are in the state dict,
    so a saved reservoir reloads exactly.

    Buffers: ``weight_ih = W_in`` (H, D), entries uniform in
    ``(-input_scaling, input_scaling)``; ``weight_hh = W`` (H, H): each entry is nonzero
    with probability ``density``, nonzero entries uniform in (-1, 1), then the matrix is
    rescaled (in float64) so that its spectral radius, the largest ``|eigenvalue|``, equals
    ``spectral_radius``. A radius below 1 is the usual recipe for the echo-state property
    (the state forgets its initial condition); it is a guideline, not a guarantee, and
    values above 1 are allowed for tuning. The target ``\tilde h_t`` is the candidate
    (passed through ``self.candidate``). State: ``h`` (B, H).

    Args:
        input_size: D, features of x_t.
        hidden_size: H, reservoir units.
        spectral_radius: the spectral radius W is rescaled to (positive).
        input_scaling: half-width of the uniform W_in entries (positive).
        leak_rate: ``a`` in (0, 1]; 1 is the plain (non-leaky) reservoir.
        density: fraction of nonzero entries of W, in (0, 1].
        seed: draw the reservoir from ``torch.Generator().manual_seed(seed)``; None draws
            from torch's global generator (so ``torch.manual_seed`` fixes it too).
    """

    weight_ih: Tensor
    weight_hh: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        spectral_radius: float = 0.9,
        input_scaling: float = 1.0,
        leak_rate: float = 1.0,
        density: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.spectral_radius = check_positive("spectral_radius", spectral_radius)
        self.input_scaling = check_positive("input_scaling", input_scaling)
        self.leak_rate = check_alpha("leak_rate", leak_rate)
        self.density = check_alpha("density", density)
        self.seed = check_seed("seed", seed)
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        H, D = hidden_size, input_size
        w_in = (2 * torch.rand(H, D, generator=gen, dtype=torch.float64) - 1) * self.input_scaling
        w = self._draw_reservoir(gen)
        dtype = torch.get_default_dtype()
        self.register_buffer("weight_ih", w_in.to(dtype))
        self.register_buffer("weight_hh", w.to(dtype))

    def _draw_reservoir(self, gen: torch.Generator | None) -> Tensor:
        """Sparse uniform (H, H) matrix rescaled to the requested spectral radius, float64."""
        H = self.hidden_size
        for _ in range(MAX_DRAWS):
            w = 2 * torch.rand(H, H, generator=gen, dtype=torch.float64) - 1
            if self.density < 1:
                w = w * (torch.rand(H, H, generator=gen, dtype=torch.float64) < self.density)
            rho = spectral_radius(w)
            if rho > 1e-8:
                return w * (self.spectral_radius / rho)
        raise ValueError(
            f"density={self.density!r} is too low for hidden_size={H}: "
            f"{MAX_DRAWS} draws all had spectral radius 0"
        )

    def project_input(self, x: Tensor) -> Tensor:
        """W_in x_t, (..., D) -> (..., H)."""
        return F.linear(x, self.weight_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        target = torch.tanh(gx + F.linear(h, self.weight_hh))  # (B, H)
        a = self.leak_rate
        h = (1 - a) * h + a * self.candidate(target)
        return h, h

    def num_parameters(self) -> int:
        """0: the reservoir is fixed."""
        return 0

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, spectral_radius={self.spectral_radius}, "
            f"input_scaling={self.input_scaling}, leak_rate={self.leak_rate}, "
            f"density={self.density}, seed={self.seed}"
        )
