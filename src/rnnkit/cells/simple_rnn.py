"""The simple (Elman) recurrent cell, with the IRNN identity initialization."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.checks import check_bool, check_choice

NONLINEARITIES = ("tanh", "relu")
INITS = ("default", "identity")

#: Standard deviation of the input weights under ``init="identity"`` (Le et al. 2015, Sec. 4).
IRNN_INPUT_STD = 1e-3


class SimpleRNNCell(RecurrentCell):
    r"""Simple recurrent cell (Elman, 1990): one affine map and a nonlinearity.

    .. math::
        s_t = f(U s_{t-1} + V x_t + b)

    In the code ``V = weight_ih`` (H, D), ``U = weight_hh`` (H, H) and
    ``b = bias_ih + bias_hh`` (two (H,) vectors, as in ``torch.nn.RNNCell``), so that::

        gx  = x @ weight_ih.T + bias_ih                 # project_input, (B, H)
        s_t = f(gx + s_{t-1} @ weight_hh.T + bias_hh)   # step, (B, H)

    ``f`` is ``tanh`` or ``relu``. The names, shapes and semantics equal those of
    ``torch.nn.RNNCell`` (``nonlinearity`` included), so state dicts load both ways.
    The state is the tensor ``s`` (B, H). The cell has no separate candidate: the new
    state replaces the old one entirely, so ``self.candidate`` (recurrent dropout on the
    candidate, Semeniuta et al. 2016) is not applied here.

    Init:

    - ``init="default"``: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), as in torch.
    - ``init="identity"``: the IRNN of Le, Jaitly & Hinton (2015), "A Simple Way to
      Initialize Recurrent Networks of Rectified Linear Units": ``weight_hh = I``
      exactly, both biases 0, and ``weight_ih`` drawn from N(0, 0.001^2) (the paper's
      "Gaussian with mean zero and standard deviation 0.001"). The IRNN proper is
      ``nonlinearity="relu", init="identity"``; the identity init is allowed with tanh too.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, units of s_t.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        init: ``"default"`` or ``"identity"`` (see above).
        bias: whether to learn ``bias_ih`` and ``bias_hh``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "tanh",
        init: str = "default",
        bias: bool = True,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self.init = check_choice("init", init, INITS)
        self.bias = check_bool("bias", bias)
        self.add_affine_parameters(1, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the parameters again as documented for ``self.init``."""
        if self.init == "default":
            bound = 1.0 / math.sqrt(self.hidden_size)
            for weight in self.parameters():
                nn.init.uniform_(weight, -bound, bound)
            return
        with torch.no_grad():
            nn.init.normal_(self.weight_ih, 0.0, IRNN_INPUT_STD)
            self.weight_hh.copy_(torch.eye(self.hidden_size))
            if self.bias:
                self.bias_ih.zero_()
                self.bias_hh.zero_()

    def project_input(self, x: Tensor) -> Tensor:
        """V x_t + bias_ih, (..., D) -> (..., H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        pre = gx + F.linear(state, self.weight_hh, self.bias_hh)  # (B, H)
        s = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return s, s

    def num_parameters(self) -> int:
        """H(D + H) weights, plus 2H biases when ``bias``."""
        H, D = self.hidden_size, self.input_size
        return H * (D + H) + (2 * H if self.bias else 0)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"init={self.init!r}, bias={self.bias}"
        )
