r"""The output layer and its loss: an affine map to V logits and softmax cross-entropy.

.. math::
    y_t = W_{hy} h_t + b_y, \qquad p_t = \mathrm{softmax}(y_t), \qquad
    L = -\sum_t \log p_t[k_t]

with ``W_hy`` (V, H) and ``b_y`` (V,) as in min-char-rnn. The gradient of the loss with
respect to the logits is the famous ``p_t - onehot(k_t)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Params = dict[str, Array]

REDUCTIONS = ("mean", "sum")

__all__ = ["init_output", "output_backward", "output_forward", "softmax", "softmax_cross_entropy"]


def init_output(hidden_size: int, vocab_size: int, rng: np.random.Generator) -> Params:
    """``W_hy`` (V, H) uniform in (-1/sqrt(H), 1/sqrt(H)) and ``b_y`` (V,) zero."""
    bound = 1.0 / np.sqrt(hidden_size)
    return {
        "W_hy": rng.uniform(-bound, bound, (vocab_size, hidden_size)),
        "b_y": np.zeros(vocab_size),
    }


def output_forward(params: Params, hs: Array) -> Array:
    """Logits ``y = W_hy h + b_y``: (N, H) -> (N, V)."""
    return hs @ params["W_hy"].T + params["b_y"]


def output_backward(params: Params, hs: Array, dlogits: Array) -> tuple[Params, Array]:
    """Back through ``y = W_hy h + b_y``: (N, H), (N, V) -> ({W_hy, b_y}, dhs (N, H))."""
    grads = {
        "W_hy": dlogits.T @ hs,  # ∂L/∂W_hy = Σ_n ∂L/∂y_n h_nᵀ
        "b_y": dlogits.sum(axis=0),  # ∂L/∂b_y = Σ_n ∂L/∂y_n
    }
    dhs = dlogits @ params["W_hy"]  # ∂L/∂h_n = W_hyᵀ ∂L/∂y_n
    return grads, dhs


def softmax(logits: Array) -> Array:
    """Row-wise softmax, (N, V) -> (N, V); the row maximum is subtracted for stability."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(
    logits: Array, targets: NDArray[np.int64], reduction: str = "mean"
) -> tuple[float, Array]:
    """Cross-entropy of softmax(logits) against integer targets, and its gradient.

    Args:
        logits: (N, V) unnormalised scores.
        targets: (N,) integers in [0, V).
        reduction: ``"mean"`` (default; the loss per row, as ``torch.nn.functional.
            cross_entropy``) or ``"sum"`` (the total over rows, as min-char-rnn).

    Returns:
        ``(loss, dlogits)``: the scalar loss and ∂loss/∂logits (N, V), which is
        ``softmax(logits) - onehot(targets)``, divided by N for ``"mean"``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    N = logits.shape[0]
    shifted = logits - logits.max(axis=-1, keepdims=True)  # softmax is shift-invariant
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (N, V)
    rows = np.arange(N)
    loss = -log_p[rows, targets].sum()  # L = -Σ_n log p_n[k_n]
    dlogits = np.exp(log_p)  # p_n
    dlogits[rows, targets] -= 1.0  # ∂L/∂y_n = p_n - onehot(k_n)
    if reduction == "mean":
        return float(loss / N), dlogits / N
    return float(loss), dlogits
