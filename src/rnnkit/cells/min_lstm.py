"""minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, 2024): an LSTM whose gates see only x_t."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.min_gru import candidate_log, check_sequence, g, log_space_scan
from rnnkit.checks import check_bool


class MinLSTM(RecurrentCell):
    r"""minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs All We Needed?", 2024).

    Gates and candidate depend on ``x_t`` only, and the two gates are normalised to sum to one
    (the paper's time-independent minLSTM), so the recurrence is linear in ``h``:

    .. math::
        f_t = \sigma(W_f x_t + b_f), \qquad i_t = \sigma(W_i x_t + b_i)
        f'_t = f_t / (f_t + i_t), \qquad i'_t = i_t / (f_t + i_t)
        \tilde h_t = g(W_h x_t + b_h), \qquad g(v) = v + 0.5 \ (v \ge 0), \ \sigma(v) \ (v < 0)
        h_t = f'_t \odot h_{t-1} + i'_t \odot \tilde h_t

    ``\tilde h_t`` passes through ``self.candidate`` (recurrent dropout hook). There is no
    separate memory cell: the state is ``h`` alone.

    Two forms give the same numbers:

    - step form (``forward`` / ``step``), a :class:`RecurrentCell`: ``project_input`` computes
      the three linears ``k_f, k_i`` and ``W_h x + b_h``, ``step`` is elementwise;
    - :meth:`parallel` over a whole sequence via :func:`rnnkit.cells.min_gru.log_space_scan`.

    Both take the normalised gates stably from ``d = softplus(-k_f) - softplus(-k_i)``
    (``= log i_t - log f_t``): ``f'_t = \sigma(-d)``, ``i'_t = \sigma(d)``, i.e.
    ``log f'_t = -softplus(d)``, ``log i'_t = -softplus(-d)``; the plain ratio would give
    0/0 once both gates underflow (``k_f, k_i < -104`` in float32).

    Parameters: ``weight_ih`` (3H, D) packed ``(W_f | W_i | W_h)``; ``bias_ih`` (3H,) packed
    ``(b_f | b_i | b_h)`` when ``bias``. Count: ``3H(D + 1)`` (``3HD`` without bias). No
    recurrent weights. Init: uniform(-1/sqrt(H), 1/sqrt(H)) (torch's default).

    Args:
        input_size: ``D``.
        hidden_size: ``H``.
        bias: learn ``b_f, b_i, b_h``.

    State: a tensor ``h`` (B, H), zeros initially. Shapes: x (B, D) -> h (B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        check_bool("bias", bias)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter."""
        self.reset_uniform()

    def project_input(self, x: Tensor) -> Tensor:
        """(..., D) -> (..., 3H): ``(W_f x + b_f | W_i x + b_i | W_h x + b_h)``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, pre_h = gx.chunk(3, dim=-1)  # (B, H) each
        d = F.softplus(-k_f) - F.softplus(-k_i)  # log i_t - log f_t
        f_norm, i_norm = torch.sigmoid(-d), torch.sigmoid(d)  # f / (f + i), i / (f + i)
        h_tilde = self.candidate(g(pre_h))
        h = f_norm * state + i_norm * h_tilde  # (B, H)
        return h, h

    def parallel(self, x: Tensor, h0: Tensor | None = None, *, batch_first: bool = False) -> Tensor:
        """Every hidden state of a sequence at once, by a log-space parallel scan.

        Args:
            x: (T, B, D), or (B, T, D) with ``batch_first``.
            h0: (B, H) the hidden state before the first step, any real values (it enters
                linearly, outside log space); None means zeros.
            batch_first: layout of ``x`` and of the result.

        Returns:
            Every ``h_t``: (T, B, H), or (B, T, H) with ``batch_first``; the final state is
            the last step.
        """
        if batch_first:
            x = x.transpose(0, 1)
        check_sequence(x, h0, self.input_size, self.hidden_size)
        k_f, k_i, pre_h = self.project_input(x).chunk(3, dim=-1)  # (T, B, H) each
        d = F.softplus(-k_f) - F.softplus(-k_i)  # log i_t - log f_t
        log_f = -F.softplus(d)  # log f'_t
        log_i = -F.softplus(-d)  # log i'_t
        h = log_space_scan(log_f, log_i + candidate_log(self, pre_h), h0).to(x.dtype)
        return h.transpose(0, 1) if batch_first else h  # (T, B, H) or (B, T, H)

    def num_parameters(self) -> int:
        """``3H(D + 1)`` with bias, ``3HD`` without."""
        return 3 * self.hidden_size * (self.input_size + int(self.bias_ih is not None))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"
