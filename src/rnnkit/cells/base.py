"""The cell contract: one time step, ``cell(x_t, state) -> (h_t, state)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.cells.state import LSTMState, State
from rnnkit.checks import check_size


class RecurrentCell(nn.Module):
    """Base class of every rnnkit cell.

    A cell computes one time step. The work splits in two so that layers can hoist
    the input-only part out of the time loop (one GEMM for all steps):

    - ``project_input(x)``: (..., D) -> (..., G), everything that depends on x_t alone
      (default: identity);
    - ``step(gx, state)``: (B, G), state -> (h, state), the recurrent part.

    ``forward(x, state) == step(project_input(x), state)``.

    Cells whose candidate can be dropped (recurrent dropout, Semeniuta et al. 2016)
    pass their candidate through ``self.candidate(g)``; a layer installs the dropout
    by setting ``cell.candidate_dropout``.
    """

    input_size: int
    hidden_size: int

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.candidate_dropout: nn.Module | None = None

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Zero state for ``batch_size`` sequences (override for tuple states)."""
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def add_affine_parameters(self, gates: int, *, bias: bool) -> None:
        """Register torch's layout for ``gates`` blocks of H units: ``weight_ih`` (gates·H, D),
        ``weight_hh`` (gates·H, H), and ``bias_ih``, ``bias_hh`` (gates·H,) or None."""
        G, D, H = gates * self.hidden_size, self.input_size, self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, D))
        self.weight_hh = nn.Parameter(torch.empty(G, H))
        self.bias_ih = nn.Parameter(torch.empty(G)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(G)) if bias else None

    def reset_uniform(self) -> None:
        """Torch's recurrent init: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def zero_state(self, x: Tensor) -> State:
        """Zero state matching one input step ``x`` (batch, device, dtype; conv: spatial size)."""
        return self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)

    def project_input(self, x: Tensor) -> Tensor:
        """The input-only part of the step, (..., D) -> (..., G)."""
        return x

    def step(self, gx: Tensor, state: State) -> tuple[Tensor, State]:
        """The recurrent part of the step, given ``gx = project_input(x)``."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.zero_state(x)
        return self.step(self.project_input(x), state)

    def candidate(self, g: Tensor) -> Tensor:
        """Pass the candidate (g_t in LSTM, ĥ_t in GRU) through recurrent dropout if installed."""
        return g if self.candidate_dropout is None else self.candidate_dropout(g)

    def num_parameters(self) -> int:
        """Trainable parameter count from the cell's closed-form formula."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class MemoryCell(RecurrentCell):
    """A cell whose state is ``LSTMState(h, c)``: the output h and a memory cell c."""

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LSTMState:
        """Zero ``LSTMState(h, c)``, each (B, H)."""
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return LSTMState(h, torch.zeros_like(h))
