r"""The GRU fused into one autograd Function over the whole sequence, in both reset forms.

With ``gx`` (T, B, 3H) = ``W_ih x + b_ih`` projected outside (one GEMM), ``x_h = m_s ⊙ h``
(the variational mask on what the step reads, if any), step t of
:class:`~rnnkit.cells.gru.GRUCell` is::

    reset_after=True  (torch/cuDNN):  gh = W_hh x_h + b_hh
        r, z = σ(gx_r + gh_r), σ(gx_z + gh_z);   n = tanh(gx_n + r ⊙ gh_n)
    reset_after=False (Cho et al.):
        r, z = σ(gx_rz + W_rz x_h + b_rz);        n = tanh(gx_n + W_n (r ⊙ x_h) + b_n)
    h~  = (1 - z) ⊙ (m_g ⊙ n) + z ⊙ x_h          (m_g: recurrent dropout on the candidate)
    h_t = lerp(h~, h, z_h[t])                    (zoneout and frozen steps)

tanh is ``2 σ(2x) - 1`` with the n rows of the weights scaled by 2 once (faster on CPU).
Backward (:mod:`rnnkit.layers.fused.gru_backward`) computes the derivative factors for all
steps before its reverse loop and the weight gradients after it in one GEMM each.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.layers.fused.gemm import StepGEMM
from rnnkit.layers.fused.lstm import LSTMMasks, _steps, _zone_steps

#: The GRU uses the same mask container (``zone_c`` unused).
GRUMasks = LSTMMasks


def _n_scale(x: Tensor, H: int) -> Tensor:
    """The n rows (or features) of a (..., 3H) tensor times 2."""
    scale = x.new_ones(3, 1)
    scale[2] = 2.0
    return (x.unflatten(-1, (3, H)) * scale).flatten(-2)


def _candidate(N: Tensor, a_n: Tensor, m_g: Tensor | None, minus_one: Tensor) -> Tensor:
    """``N = tanh(a_n / 2)`` as ``2 σ(a_n) - 1`` from the doubled pre-activation; ``m_g ⊙ N``."""
    torch.sigmoid(a_n, out=N)
    torch.add(minus_one, N, alpha=2.0, out=N)
    return N if m_g is None else N * m_g


def gru_loop(
    gx: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    reset_after: bool,
    masks: GRUMasks,
    save: bool,
) -> dict[str, Tensor | None]:
    """Run the recurrence; returns ``hs`` (T+1, B, H) and, with ``save``, what backward needs."""
    T, B, G = gx.shape
    H = G // 3
    n = T if save else 1
    if bias_hh is not None and not reset_after:
        gx = gx + bias_hh  # every hidden bias is additive in this form
    gx = _n_scale(gx, H)  # (T, B, 3H), n part doubled
    hs = gx.new_empty(T + 1, B, H)
    hs[0] = h0
    rz = gx.new_empty(n, B, 2 * H)  # r | z
    cand = gx.new_empty(n, B, H)  # n = tanh(.) before the dropout mask
    RZ, R, Z, N = _steps(rz, T), *(_steps(x, T) for x in rz.split(H, -1)), _steps(cand, T)
    HS, ZH = hs.unbind(0), _zone_steps(masks.zone_h, T)
    m_g, m_s = masks.candidate, masks.state
    minus_one = torch.full((), -1.0, dtype=gx.dtype, device=gx.device)
    w2 = _n_scale(weight_hh.t(), H).t()  # (3H, H), n rows doubled
    gx_rz, gx_n = gx.split((2 * H, H), -1)
    if reset_after:  # S = gx + b_hh + W_hh x_h; a_n = gx_n + r ⊙ (S_n - gx_n) = lerp(gx_n, S_n, r)
        gemm = StepGEMM(w2, B)
        GXB = (gx if bias_hh is None else gx + _n_scale(bias_hh, H)).unbind(0)
        GXN, sn = gx_n.unbind(0), []
    else:
        gemm_rz, gemm_n = StepGEMM(w2[: 2 * H], B), StepGEMM(w2[2 * H :], B)
        GXRZ, GXN = gx_rz.contiguous().unbind(0), gx_n.contiguous().unbind(0)
        rh = gx.new_empty(n, B, H)  # r ⊙ x_h
        RH = _steps(rh, T)
    for t in range(T):
        h = HS[t]
        x_h = h if m_s is None else h * m_s
        if reset_after:
            s_rz, s_n = gemm(x_h, GXB[t]).split((2 * H, H), 1)  # (B, 2H), (B, H)
            torch.sigmoid(s_rz, out=RZ[t])
            a_n = torch.lerp(GXN[t], s_n, R[t])  # (B, H)
            if save:
                sn.append(s_n)
        else:
            torch.sigmoid(gemm_rz(x_h, GXRZ[t]), out=RZ[t])
            a_n = gemm_n(torch.mul(R[t], x_h, out=RH[t]), GXN[t])  # (B, H)
        n_m = _candidate(N[t], a_n, m_g, minus_one)
        if ZH[t] is None:
            torch.lerp(n_m, x_h, Z[t], out=HS[t + 1])
        else:
            torch.lerp(torch.lerp(n_m, x_h, Z[t]), h, ZH[t], out=HS[t + 1])
    out = {"hs": hs}
    if save:  # gh_n = W_hn x_h + b_hn (reset after) or r ⊙ x_h (reset before)
        extra = (torch.stack(sn) - gx_n) * 0.5 if reset_after else rh
        out.update(rz=rz, cand=cand, extra=extra)
    return out
