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

tanh is ``2 σ(2x) - 1`` (faster on CPU); ``b_hh`` rides along in the step GEMM.
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


def _candidate(N: Tensor, a_n: Tensor, m_g: Tensor | None, minus_one: Tensor) -> Tensor:
    """``N = tanh(a_n)`` as ``2 σ(2 a_n) - 1``; returns ``m_g ⊙ N``."""
    torch.add(a_n, a_n, out=N).sigmoid_()
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
    hs = gx.new_empty(T + 1, B, H)
    hs[0] = h0
    rz = gx.new_empty(n, B, 2 * H)  # r | z
    cand = gx.new_empty(n, B, H)  # n = tanh(.) before the dropout mask
    RZ, R, Z, N = _steps(rz, T), *(_steps(x, T) for x in rz.split(H, -1)), _steps(cand, T)
    HS, ZH = hs.unbind(0), _zone_steps(masks.zone_h, T)
    m_g, m_s = masks.candidate, masks.state
    minus_one = torch.full((), -1.0, dtype=gx.dtype, device=gx.device)
    gx_rz, gx_n = (x.unbind(0) for x in gx.split((2 * H, H), -1))
    if reset_after:  # S = gx + W_hh x_h + b_hh; a_n = gx_n + r ⊙ (S_n - gx_n) = lerp(gx_n, S_n, r)
        gemm, GX = StepGEMM(weight_hh, B, bias_hh), gx.unbind(0)
        ghn = gx.new_empty(n, B, H)  # gh_n = W_hn x_h + b_hn = S_n - gx_n
        GHN = _steps(ghn, T)
    else:
        b_rz, b_n = (None, None) if bias_hh is None else bias_hh.split((2 * H, H))
        gemm_rz = StepGEMM(weight_hh[: 2 * H], B, b_rz)
        gemm_n = StepGEMM(weight_hh[2 * H :], B, b_n)
        rh = gx.new_empty(n, B, H)  # r ⊙ x_h
        RH = _steps(rh, T)
    for t in range(T):
        h = HS[t]
        x_h = h if m_s is None else h * m_s
        if reset_after:
            s_rz, s_n = gemm(x_h, GX[t]).split((2 * H, H), 1)  # (B, 2H), (B, H)
            torch.sigmoid(s_rz, out=RZ[t])
            a_n = torch.lerp(gx_n[t], s_n, R[t])  # (B, H)
            if save:
                torch.sub(s_n, gx_n[t], out=GHN[t])
        else:
            torch.sigmoid(gemm_rz(x_h, gx_rz[t]), out=RZ[t])
            a_n = gemm_n(torch.mul(R[t], x_h, out=RH[t]), gx_n[t])  # (B, H)
        n_m = _candidate(N[t], a_n, m_g, minus_one)
        if ZH[t] is None:
            torch.lerp(n_m, x_h, Z[t], out=HS[t + 1])
        else:
            torch.lerp(torch.lerp(n_m, x_h, Z[t]), h, ZH[t], out=HS[t + 1])
    out = {"hs": hs}
    if save:  # gh_n (reset after) or r ⊙ x_h (reset before)
        out.update(rz=rz, cand=cand, extra=ghn if reset_after else rh)
    return out
