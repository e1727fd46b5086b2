"""Backpropagation through time for :func:`rnnkit.layers.fused.gru.gru_loop`.

Notation as in :mod:`rnnkit.layers.fused.gru`. Going back from step t with ``dh`` the
gradient of h_t::

    dh~  = (1 - z_h) dh                                     (zoneout / frozen steps)
    da_n = dh~ ⊙ (1 - z) ⊙ m_g ⊙ (1 - n²);   da_z = dh~ ⊙ (x_h - m_g n) ⊙ z(1 - z)
    reset_after:  dgh_n = da_n ⊙ r;   da_r = da_n ⊙ gh_n ⊙ r(1 - r)
                  dx_h = W_hhᵀ (da_r | da_z | dgh_n) + z ⊙ dh~
    reset_before: d(r x_h) = W_nᵀ da_n;   da_r = d(r x_h) ⊙ x_h ⊙ r(1 - r)
                  dx_h = W_rzᵀ (da_r | da_z) + r ⊙ d(r x_h) + z ⊙ dh~
    dh_{t-1} = dout[t-1] + m_s ⊙ dx_h + z_h dh

The factors are formed step by step from the saved r, z, n (a step's tensors stay in cache);
the weight gradient is one GEMM over all T·B rows (two in the reset-before form).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.layers.fused.gemm import StepGEMM
from rnnkit.layers.fused.gru import GRUMasks
from rnnkit.layers.fused.lstm import _steps, _zone_steps
from rnnkit.layers.fused.lstm_backward import _one_minus, add_scaled


def gru_backward(
    run: dict,
    dout: Tensor,
    dh_T: Tensor | None,
    weight_hh: Tensor,
    masks: GRUMasks,
) -> dict[str, Tensor]:
    """Gradients of gx, h0, weight_hh and bias_hh (the sum of the gate gradients)."""
    T, B, H = dout.shape
    after, m_g, m_s = run["reset_after"], masks.candidate, masks.state
    x_h = run["hs"][:-1] if m_s is None else run["hs"][:-1] * m_s  # (T, B, H)
    r, z = run["rz"].chunk(2, -1)
    R, Z, N, XH, EX = (_steps(v, T) for v in (r, z, run["cand"], x_h, run["extra"]))
    dgh = dout.new_empty(T, B, 3 * H if after else 2 * H)  # what multiplies W_hh (W_rz)
    dan = dout.new_empty(T, B, H)  # da_n
    DGH, DAN = _steps(dgh, T), _steps(dan, T)
    GR, GZ = _steps(dgh[..., :H], T), _steps(dgh[..., H : 2 * H], T)
    if after:
        GN = _steps(dgh[..., 2 * H :], T)
        gemm = StepGEMM(weight_hh.t().contiguous(), B, pack=False)
    else:
        gemm = StepGEMM(weight_hh[: 2 * H].t().contiguous(), B, pack=False)
        gemm_n = StepGEMM(weight_hh[2 * H :].t().contiguous(), B, pack=False)
    ZH, DOUT = _zone_steps(masks.zone_h, T), dout.unbind(0)
    UH = _zone_steps(_one_minus(masks.zone_h), T)
    dh = DOUT[T - 1] if dh_T is None else DOUT[T - 1] + dh_T
    for t in range(T - 1, -1, -1):
        dhn = dh if UH[t] is None else dh * UH[t]
        dnm = torch.addcmul(dhn, dhn, Z[t], value=-1.0)  # d(m_g n) = (1 - z) dh~
        dn = dnm if m_g is None else dnm.mul_(m_g)
        da_n = torch.addcmul(dn, dn * N[t], N[t], value=-1.0, out=DAN[t])  # dn (1 - n²)
        e = torch.sub(XH[t], N[t] if m_g is None else N[t] * m_g).mul_(dhn)
        ez = e * Z[t]
        torch.addcmul(ez, ez, Z[t], value=-1.0, out=GZ[t])  # dh~ (x_h - m_g n) z (1 - z)
        direct = torch.mul(dhn, Z[t]) if m_s is not None or t == 0 else None
        if after:  # dr = da_n gh_n
            torch.mul(da_n, R[t], out=GN[t])
            pr = (da_n * EX[t]).mul_(R[t])
        else:  # d(r x_h) = W_n^T da_n;  dr = d(r x_h) x_h
            drh = gemm_n(da_n)  # (B, H)
            pr = (drh * XH[t]).mul_(R[t])
            direct = torch.mul(drh, R[t]) if direct is None else direct.addcmul_(drh, R[t])
        torch.addcmul(pr, pr, R[t], value=-1.0, out=GR[t])  # dr r (1 - r)
        if m_s is None and t > 0:  # dh_{t-1} = dout[t-1] + z dh~ (+ r d(r x_h)) + W^T dgh
            base = torch.addcmul(DOUT[t - 1], dhn, Z[t])
            dh_prev = gemm(DGH[t], base if direct is None else base.add_(direct))
        else:
            dh_prev = gemm(DGH[t], direct)
            if m_s is not None:
                dh_prev.mul_(m_s)
                if t > 0:
                    dh_prev.add_(DOUT[t - 1])
        if ZH[t] is not None:
            add_scaled(dh_prev, dh, ZH[t])
        dh = dh_prev
    return _totals(dgh, dan, x_h, run, dh, after)


def _totals(dgh: Tensor, dan: Tensor, x_h: Tensor, run: dict, dh0: Tensor, after: bool) -> dict:
    """dgx (T, B, 3H), dW_hh (3H, H) and db_hh (3H,) from the per-step gradients."""
    T, B, H = dan.shape
    TB = T * B
    if after:
        dgx = torch.cat([dgh[..., : 2 * H], dan], -1)  # (T, B, 3H)
        dW = dgh.reshape(TB, 3 * H).t() @ x_h.reshape(TB, H)
        db = dgh.sum((0, 1))
    else:
        dgx = torch.cat([dgh, dan], -1)
        rh = run["extra"]  # r ⊙ x_h
        dW = torch.cat(
            [
                dgh.reshape(TB, 2 * H).t() @ x_h.reshape(TB, H),
                dan.reshape(TB, H).t() @ rh.reshape(TB, H),
            ]
        )
        db = dgx.sum((0, 1))
    return {"gx": dgx, "h0": dh0, "weight_hh": dW, "bias_hh": db}
