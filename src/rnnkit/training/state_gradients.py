r"""How much gradient reaches each earlier step: :math:`\|\partial L_T / \partial h_t\|`.

For a loss :math:`L_T` read at the last step,

.. math::
    \frac{\partial L_T}{\partial h_t}
      = \frac{\partial L_T}{\partial h_T} \prod_{k=t+1}^{T} \frac{\partial h_k}{\partial h_{k-1}},

which vanishes or explodes geometrically in T - t for a plain RNN. :func:`state_gradient_norms`
measures it for every t in one backward pass: it steps the cell in a Python loop and asks
autograd for the gradient with respect to each step's state (all paths through it), so the
fused fast paths are not involved. The pictures (:mod:`rnnkit.viz.gradients`) and the
long-range job's training log (``--log-state-gradients``) both use it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import state_output


def state_gradient_norms(
    cell: RecurrentCell, x: Tensor, last_loss: Callable[[Tensor], Tensor]
) -> Tensor:
    """‖∂L_T/∂h_t‖ for t = 1..T, averaged over the batch: (T,).

    Args:
        cell: any rnnkit cell, stepped from its zero state.
        x: inputs (T, B, D).
        last_loss: h_T (B, H) -> per-sequence losses L_T (B,). The losses are summed, so row
            b of each gradient is sequence b's own ∂L_T/∂h_t.

    Returns:
        (T,): entry t - 1 is the mean over sequences of ‖∂L_T/∂h_t‖ (for an LSTM, h only, its
        memory cell c held fixed).
    """
    state = cell.zero_state(x[0])
    outputs = []
    with torch.enable_grad():
        for x_t in x:
            _, state = cell(x_t, state)
            outputs.append(state_output(state))  # h_t (B, H): feeds step t + 1 (and L_T)
        grads = torch.autograd.grad(last_loss(outputs[-1]).sum(), outputs, allow_unused=True)
    pairs = zip(outputs, grads, strict=True)
    stacked = torch.stack([torch.zeros_like(h) if g is None else g for h, g in pairs])  # (T, B, H)
    return stacked.norm(dim=-1).mean(dim=1)
