r"""The LSTM in NumPy: forward over a sequence, and backpropagation through time.

The equations and symbols are those of :class:`rnnkit.cells.LSTMCell` (torch's layout):

.. math::
    i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})
    f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf})
    g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})
    o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})
    c_t = f_t \odot c_{t-1} + i_t \odot g_t
    h_t = o_t \odot \tanh(c_t)

packed in gate order (i, f, g, o): ``weight_ih`` (4H, D) = (W_ii | W_if | W_ig | W_io),
``weight_hh`` (4H, H) = (W_hi | W_hf | W_hg | W_ho), ``bias_ih``, ``bias_hh`` (4H,).
``a_t`` (B, 4H) = (a_i | a_f | a_g | a_o) are the four pre-activations (the arguments of
σ and tanh above); the cache keeps the gates after their nonlinearity.

Backward, two quantities travel from step t+1 to step t: ``dh_next`` = ∂L/∂h_t through
h_{t+1}, and ``dc_next`` = ∂L/∂c_t through c_{t+1}. The second path, c_{t+1} = f_{t+1} ⊙ c_t
+ ..., multiplies by f only (no squashing nonlinearity, no weight matrix): the constant
error carousel that lets an LSTM carry gradients across many steps.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Params = dict[str, Array]
Cache = dict[str, Array]

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

__all__ = ["PARAM_NAMES", "backward", "forward", "init_params", "sigmoid"]


def sigmoid(a: Array) -> Array:
    """σ(a) = 1 / (1 + e^{-a}), elementwise; its derivative is σ(a)(1 - σ(a))."""
    return 1.0 / (1.0 + np.exp(-a))


def init_params(input_size: int, hidden_size: int, rng: np.random.Generator) -> Params:
    """Torch's init: every array uniform in (-1/sqrt(H), 1/sqrt(H)), float64.

    Shapes: ``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih`` and ``bias_hh`` (4H,).
    """
    D, H = input_size, hidden_size
    bound = 1.0 / np.sqrt(H)
    shapes = {"weight_ih": (4 * H, D), "weight_hh": (4 * H, H), "bias_ih": (4 * H,)}
    shapes["bias_hh"] = (4 * H,)
    return {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def forward(params: Params, xs: Array, h0: Array, c0: Array) -> Cache:
    """Run the cell over a sequence and keep what the backward pass needs.

    Args:
        params: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (see module docstring).
        xs: (T, B, D) inputs x_1..x_T.
        h0, c0: (B, H) initial state h_0, c_0.

    Returns:
        The cache: ``xs``, ``h0``, ``c0``, ``hs`` (T, B, H) = h_t, ``cs`` (T, B, H) = c_t and
        ``gates`` (T, B, 4H) = (i_t | f_t | g_t | o_t) after σ / tanh.
    """
    W_ih, W_hh = params["weight_ih"], params["weight_hh"]
    b = params["bias_ih"] + params["bias_hh"]
    T, H = xs.shape[0], h0.shape[1]
    hs, cs = np.empty((T, *h0.shape)), np.empty((T, *h0.shape))
    gates = np.empty((T, h0.shape[0], 4 * H))
    h, c = h0, c0
    for t in range(T):
        a = xs[t] @ W_ih.T + h @ W_hh.T + b  # a_t = W_i· x_t + W_h· h_{t-1} + b, (B, 4H)
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 3 * H :])
        g = np.tanh(a[:, 2 * H : 3 * H])
        c = f * c + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h = o * np.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
        hs[t], cs[t], gates[t] = h, c, np.concatenate([i, f, g, o], axis=1)
    return {"xs": xs, "h0": h0, "c0": c0, "hs": hs, "cs": cs, "gates": gates}


def backward(
    params: Params,
    cache: Cache,
    dhs: Array,
    dh_T: Array | None = None,
    dc_T: Array | None = None,
) -> Params:
    """Backpropagation through time.

    Args:
        params: as for :func:`forward`.
        cache: what :func:`forward` returned.
        dhs: (T, B, H) ∂L/∂h_t from the loss at each step (zeros where none).
        dh_T, dc_T: (B, H) ∂L/∂h_T and ∂L/∂c_T from beyond the sequence, or None.

    Returns:
        ∂L/∂ each parameter (same keys and shapes), plus ``xs`` (T, B, D) = ∂L/∂x_t,
        ``h0`` = ∂L/∂h_0 and ``c0`` = ∂L/∂c_0, each (B, H).
    """
    W_ih, W_hh = params["weight_ih"], params["weight_hh"]
    xs, hs, cs, h0, c0 = cache["xs"], cache["hs"], cache["cs"], cache["h0"], cache["c0"]
    grads = {name: np.zeros_like(params[name]) for name in PARAM_NAMES}
    dxs = np.zeros_like(xs)
    dh_next = np.zeros_like(h0) if dh_T is None else dh_T  # ∂L/∂h_T through later steps
    dc_next = np.zeros_like(c0) if dc_T is None else dc_T  # ∂L/∂c_T through later steps
    for t in reversed(range(xs.shape[0])):
        i, f, g, o = np.split(cache["gates"][t], 4, axis=1)  # (B, H) each
        h_prev, c_prev = (hs[t - 1], cs[t - 1]) if t > 0 else (h0, c0)
        tanh_c = np.tanh(cs[t])
        dh = dhs[t] + dh_next  # ∂L/∂h_t = (from the output at t) + (from h_{t+1})
        do = dh * tanh_c  # h_t = o_t ⊙ tanh(c_t): ∂L/∂o_t = ∂L/∂h_t ⊙ tanh(c_t)
        dc = dc_next + dh * o * (1 - tanh_c**2)  # ∂L/∂c_t = (from c_{t+1}) + (through h_t)
        di = dc * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t: ∂L/∂i_t = ∂L/∂c_t ⊙ g_t
        dg = dc * i  # ∂L/∂g_t = ∂L/∂c_t ⊙ i_t
        df = dc * c_prev  # ∂L/∂f_t = ∂L/∂c_t ⊙ c_{t-1}
        dc_next = dc * f  # ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f_t, carried to step t-1
        da = np.concatenate(  # back through the nonlinearities: σ' = σ(1-σ), tanh' = 1 - tanh²
            [di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1
        )  # ∂L/∂a_t, (B, 4H)
        grads["weight_ih"] += da.T @ xs[t]  # a_t = W_i· x_t + ...: ∂L/∂W_i· += ∂L/∂a_t x_tᵀ
        grads["weight_hh"] += da.T @ h_prev  # a_t = W_h· h_{t-1} + ...: += ∂L/∂a_t h_{t-1}ᵀ
        grads["bias_ih"] += da.sum(axis=0)  # a_t = ... + b_i· + b_h·: both biases get ∂L/∂a_t
        grads["bias_hh"] += da.sum(axis=0)
        dxs[t] = da @ W_ih  # ∂L/∂x_t = W_i·ᵀ ∂L/∂a_t
        dh_next = da @ W_hh  # ∂L/∂h_{t-1} = W_h·ᵀ ∂L/∂a_t, carried to step t-1
    return {**grads, "xs": dxs, "h0": dh_next, "c0": dc_next}
