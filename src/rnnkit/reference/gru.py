r"""The GRU in NumPy (torch's form, reset after the projection): forward and BPTT.

The equations and symbols are those of :class:`rnnkit.cells.GRUCell` with
``reset_after=True`` (``torch.nn.GRUCell``, cuDNN):

.. math::
    r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})
    z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})
    n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))
    h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

packed in gate order (r, z, n): ``weight_ih`` (3H, D) = (W_ir | W_iz | W_in), ``weight_hh``
(3H, H) = (W_hr | W_hz | W_hn), ``bias_ih``, ``bias_hh`` (3H,). Because r_t multiplies the
projected old state, the two projections are kept apart:
``gx_t = W_i· x_t + b_i·`` and ``gh_t = W_h· h_{t-1} + b_h·``, each (B, 3H) with parts
``(·r | ·z | ·n)``; the cache keeps ``hn_t = W_{hn} h_{t-1} + b_{hn}``. ``a_r``, ``a_z`` and
``a_n`` are the pre-activations, the arguments of σ, σ and tanh in the equations above.

Backward, ``dh_next`` = ∂L/∂h_t through h_{t+1}. The old state reaches h_t along four paths
(the interpolation ``z_t ⊙ h_{t-1}`` and the three gates through ``gh_t``), so ∂L/∂h_{t-1}
is a sum: the direct term ``∂L/∂h_t ⊙ z_t`` plus ``W_h·ᵀ ∂L/∂gh_t``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnnkit.reference.lstm import sigmoid

Array = NDArray[np.float64]
Params = dict[str, Array]
Cache = dict[str, Array]

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

__all__ = ["PARAM_NAMES", "backward", "forward", "init_params"]


def init_params(input_size: int, hidden_size: int, rng: np.random.Generator) -> Params:
    """Torch's init: every array uniform in (-1/sqrt(H), 1/sqrt(H)), float64.

    Shapes: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), ``bias_ih`` and ``bias_hh`` (3H,).
    """
    D, H = input_size, hidden_size
    bound = 1.0 / np.sqrt(H)
    shapes = {"weight_ih": (3 * H, D), "weight_hh": (3 * H, H), "bias_ih": (3 * H,)}
    shapes["bias_hh"] = (3 * H,)
    return {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def forward(params: Params, xs: Array, h0: Array) -> Cache:
    """Run the cell over a sequence and keep what the backward pass needs.

    Args:
        params: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` (see module docstring).
        xs: (T, B, D) inputs x_1..x_T.
        h0: (B, H) initial state h_0.

    Returns:
        The cache: ``xs``, ``h0``, ``hs`` (T, B, H) = h_t, ``gates`` (T, B, 3H) =
        (r_t | z_t | n_t) after σ / tanh, and ``hns`` (T, B, H) = W_hn h_{t-1} + b_hn.
    """
    T, H = xs.shape[0], h0.shape[1]
    hs, hns = np.empty((T, *h0.shape)), np.empty((T, *h0.shape))
    gates = np.empty((T, h0.shape[0], 3 * H))
    h = h0
    for t in range(T):
        gx = xs[t] @ params["weight_ih"].T + params["bias_ih"]  # W_i· x_t + b_i·, (B, 3H)
        gh = h @ params["weight_hh"].T + params["bias_hh"]  # W_h· h_{t-1} + b_h·, (B, 3H)
        r = sigmoid(gx[:, :H] + gh[:, :H])  # r_t
        z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])  # z_t
        hn = gh[:, 2 * H :]  # W_hn h_{t-1} + b_hn
        n = np.tanh(gx[:, 2 * H :] + r * hn)  # n_t = tanh(W_in x_t + b_in + r_t ⊙ (...))
        h = (1 - z) * n + z * h  # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
        hs[t], hns[t], gates[t] = h, hn, np.concatenate([r, z, n], axis=1)
    return {"xs": xs, "h0": h0, "hs": hs, "gates": gates, "hns": hns}


def backward(params: Params, cache: Cache, dhs: Array, dh_T: Array | None = None) -> Params:
    """Backpropagation through time.

    Args:
        params: as for :func:`forward`.
        cache: what :func:`forward` returned.
        dhs: (T, B, H) ∂L/∂h_t from the loss at each step (zeros where none).
        dh_T: (B, H) ∂L/∂h_T from beyond the sequence, or None.

    Returns:
        ∂L/∂ each parameter (same keys and shapes), plus ``xs`` (T, B, D) = ∂L/∂x_t and
        ``h0`` (B, H) = ∂L/∂h_0.
    """
    xs, hs, h0 = cache["xs"], cache["hs"], cache["h0"]
    grads = {name: np.zeros_like(params[name]) for name in PARAM_NAMES}
    dxs = np.zeros_like(xs)
    dh_next = np.zeros_like(h0) if dh_T is None else dh_T  # ∂L/∂h_T through later steps
    for t in reversed(range(xs.shape[0])):
        r, z, n = np.split(cache["gates"][t], 3, axis=1)  # (B, H) each
        h_prev, hn = (hs[t - 1] if t > 0 else h0), cache["hns"][t]
        dh = dhs[t] + dh_next  # ∂L/∂h_t = (from the output at t) + (from h_{t+1})
        dn = dh * (1 - z)  # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}: ∂L/∂n_t = ∂L/∂h_t ⊙ (1 - z_t)
        dz = dh * (h_prev - n)  # ∂L/∂z_t = ∂L/∂h_t ⊙ (h_{t-1} - n_t)
        dan = dn * (1 - n**2)  # n_t = tanh(a_n): ∂L/∂a_n = ∂L/∂n_t ⊙ (1 - n_t²)
        dr = dan * hn  # a_n = ... + r_t ⊙ hn_t: ∂L/∂r_t = ∂L/∂a_n ⊙ hn_t
        dar = dr * r * (1 - r)  # r_t = σ(a_r): ∂L/∂a_r = ∂L/∂r_t ⊙ r_t(1 - r_t)
        daz = dz * z * (1 - z)  # z_t = σ(a_z): ∂L/∂a_z = ∂L/∂z_t ⊙ z_t(1 - z_t)
        dgx = np.concatenate([dar, daz, dan], axis=1)  # a_r, a_z, a_n each hold gx: ∂L/∂gx_t
        dgh = np.concatenate([dar, daz, dan * r], axis=1)  # ... and gh, hn scaled by r_t
        grads["weight_ih"] += dgx.T @ xs[t]  # gx_t = W_i· x_t + b_i·: ∂L/∂W_i· += ∂L/∂gx_t x_tᵀ
        grads["bias_ih"] += dgx.sum(axis=0)  # ∂L/∂b_i· += ∂L/∂gx_t
        grads["weight_hh"] += dgh.T @ h_prev  # gh_t = W_h· h_{t-1} + b_h·: += ∂L/∂gh_t h_{t-1}ᵀ
        grads["bias_hh"] += dgh.sum(axis=0)  # ∂L/∂b_h· += ∂L/∂gh_t
        dxs[t] = dgx @ params["weight_ih"]  # ∂L/∂x_t = W_i·ᵀ ∂L/∂gx_t
        dh_next = dh * z + dgh @ params["weight_hh"]  # ∂L/∂h_{t-1}: direct path + via gh_t
    return {**grads, "xs": dxs, "h0": dh_next}
