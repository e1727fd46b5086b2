r"""The Elman RNN in NumPy: forward over a sequence, and backpropagation through time.

The equations and symbols are those of :class:`rnnkit.cells.SimpleRNNCell` with ``f = tanh``:

.. math::
    a_t = V x_t + U s_{t-1} + b, \qquad s_t = \tanh(a_t)

with ``V = weight_ih`` (H, D), ``U = weight_hh`` (H, H) and ``b = bias_ih + bias_hh``
(two (H,) vectors, torch's layout). ``a_t`` is the pre-activation; ``hs[t]`` holds ``s_t``.

Backpropagation through time walks the steps backwards. The state ``s_t`` reaches the
loss along two paths, the output at step t (``dhs[t]``) and the next state ``s_{t+1}``
(``ds_next``), so ∂L/∂s_t is their sum; everything else is the chain rule through one step.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Params = dict[str, Array]
Cache = dict[str, Array]

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

__all__ = ["PARAM_NAMES", "backward", "forward", "init_params"]


def init_params(input_size: int, hidden_size: int, rng: np.random.Generator) -> Params:
    """Torch's init: every array uniform in (-1/sqrt(H), 1/sqrt(H)), float64.

    Shapes: ``weight_ih`` (H, D), ``weight_hh`` (H, H), ``bias_ih`` and ``bias_hh`` (H,).
    """
    D, H = input_size, hidden_size
    bound = 1.0 / np.sqrt(H)
    shapes = {"weight_ih": (H, D), "weight_hh": (H, H), "bias_ih": (H,), "bias_hh": (H,)}
    return {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def forward(params: Params, xs: Array, h0: Array) -> Cache:
    """Run the cell over a sequence and keep what the backward pass needs.

    Args:
        params: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (see module docstring).
        xs: (T, B, D) inputs x_1..x_T.
        h0: (B, H) initial state s_0.

    Returns:
        The cache: ``xs`` (T, B, D), ``h0`` (B, H) and ``hs`` (T, B, H), ``hs[t] = s_t``.
    """
    V, U = params["weight_ih"], params["weight_hh"]
    b = params["bias_ih"] + params["bias_hh"]
    hs = np.empty((xs.shape[0], *h0.shape))
    s = h0
    for t in range(xs.shape[0]):
        s = np.tanh(xs[t] @ V.T + s @ U.T + b)  # s_t = tanh(V x_t + U s_{t-1} + b), (B, H)
        hs[t] = s
    return {"xs": xs, "h0": h0, "hs": hs}


def backward(params: Params, cache: Cache, dhs: Array, dh_T: Array | None = None) -> Params:
    """Backpropagation through time.

    Args:
        params: as for :func:`forward`.
        cache: what :func:`forward` returned.
        dhs: (T, B, H) ∂L/∂s_t from the loss at each step (zeros where none).
        dh_T: (B, H) ∂L/∂s_T from beyond the sequence (the next chunk), or None.

    Returns:
        ∂L/∂ each parameter (same keys and shapes), plus ``xs`` (T, B, D) = ∂L/∂x_t and
        ``h0`` (B, H) = ∂L/∂s_0.
    """
    V, U = params["weight_ih"], params["weight_hh"]
    xs, hs, h0 = cache["xs"], cache["hs"], cache["h0"]
    grads = {name: np.zeros_like(params[name]) for name in PARAM_NAMES}
    dxs = np.zeros_like(xs)
    ds_next = np.zeros_like(h0) if dh_T is None else dh_T  # ∂L/∂s_T through later steps
    for t in reversed(range(xs.shape[0])):
        s, s_prev = hs[t], (hs[t - 1] if t > 0 else h0)
        ds = dhs[t] + ds_next  # ∂L/∂s_t = (from the output at t) + (from s_{t+1})
        da = ds * (1.0 - s**2)  # s_t = tanh(a_t): ∂L/∂a_t = ∂L/∂s_t ⊙ (1 - s_t²)
        grads["weight_ih"] += da.T @ xs[t]  # a_t = V x_t + ...: ∂L/∂V += Σ_batch ∂L/∂a_t x_tᵀ
        grads["weight_hh"] += da.T @ s_prev  # a_t = U s_{t-1} + ...: ∂L/∂U += ∂L/∂a_t s_{t-1}ᵀ
        grads["bias_ih"] += da.sum(axis=0)  # a_t = ... + b: ∂L/∂b += ∂L/∂a_t
        grads["bias_hh"] += da.sum(axis=0)  # b = bias_ih + bias_hh: both get ∂L/∂b
        dxs[t] = da @ V  # ∂L/∂x_t = Vᵀ ∂L/∂a_t
        ds_next = da @ U  # ∂L/∂s_{t-1} = Uᵀ ∂L/∂a_t, carried to step t-1
    return {**grads, "xs": dxs, "h0": ds_next}
