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

The weight gradient is one GEMM over all T·B rows (two in the reset-before form).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.layers.fused.gemm import StepGEMM
from rnnkit.layers.fused.gru import GRUMasks
from rnnkit.layers.fused.lstm import _steps, _zone_steps
from rnnkit.layers.fused.lstm_backward import _one_minus, add_scaled


def _factors(run: dict, x_h: Tensor, masks: GRUMasks) -> tuple[Tensor, Tensor, Tensor]:
    """For all steps at once: D_n, D_z (factors of dh~) and D_r (factor of da_n or d(r x_h)).

    One buffer filled in place (``s - s²`` as ``addcmul(s, s, s, value=-1)``), no temporaries.
    """
    r, z = run["rz"].chunk(2, -1)
    n, m_g = run["cand"], masks.candidate
    T, B, H = n.shape
    D_n, D_z, D_r = n.new_empty(T, B, 3, H).unbind(2)
    one = torch.ones((), dtype=n.dtype, device=n.device)
    torch.addcmul(one, n, n, value=-1.0, out=D_n)  # 1 - n²
    torch.addcmul(D_n, z, D_n, value=-1.0, out=D_n)  # (1 - z)(1 - n²)
    torch.sub(x_h, n if m_g is None else n * m_g, out=D_z)  # x_h - m_g n
    D_z.mul_(torch.addcmul(z, z, z, value=-1.0, out=D_r))  # ⊙ z(1 - z)
    if m_g is not None:
        D_n.mul_(m_g)
    other = run["extra"] if run["reset_after"] else x_h  # gh_n or x_h
    torch.addcmul(r, r, r, value=-1.0, out=D_r).mul_(other)  # ⊙ r(1 - r)
    return D_n, D_z, D_r


def gru_backward(
    run: dict,
    dout: Tensor,
    dh_T: Tensor | None,
    weight_hh: Tensor,
    masks: GRUMasks,
) -> dict[str, Tensor]:
    """Gradients of gx, h0, weight_hh and bias_hh (the sum of the gate gradients)."""
    T, B, H = dout.shape
    after = run["reset_after"]
    m_s = masks.state
    x_h = run["hs"][:-1] if m_s is None else run["hs"][:-1] * m_s  # (T, B, H)
    D_n, D_z, D_r = _factors(run, x_h, masks)
    r, z = run["rz"].chunk(2, -1)
    DN, DZ, DR, R, Z = (_steps(x, T) for x in (D_n, D_z, D_r, r, z))
    dgh = dout.new_empty(T, B, 3 * H if after else 2 * H)  # what multiplies W_hh (W_rz)
    dan = dout.new_empty(T, B, H)  # da_n
    DGH, DAN = _steps(dgh, T), _steps(dan, T)
    GR, GZ = _steps(dgh[..., :H], T), _steps(dgh[..., H : 2 * H], T)
    if after:
        GN = _steps(dgh[..., 2 * H :], T)
        gemm = StepGEMM(weight_hh.t().contiguous(), B)
    else:
        gemm = StepGEMM(weight_hh[: 2 * H].t().contiguous(), B)
        gemm_n = StepGEMM(weight_hh[2 * H :].t().contiguous(), B)
    ZH, DOUT = _zone_steps(masks.zone_h, T), dout.unbind(0)
    UH = _zone_steps(_one_minus(masks.zone_h), T)
    dh = DOUT[T - 1] if dh_T is None else DOUT[T - 1] + dh_T
    for t in range(T - 1, -1, -1):
        dhn = dh if UH[t] is None else dh * UH[t]
        da_n = torch.mul(dhn, DN[t], out=DAN[t])
        torch.mul(dhn, DZ[t], out=GZ[t])
        direct = torch.mul(dhn, Z[t]) if m_s is not None or t == 0 else None
        if after:
            torch.mul(da_n, DR[t], out=GR[t])
            torch.mul(da_n, R[t], out=GN[t])
        else:
            drh = gemm_n(da_n)  # (B, H)
            torch.mul(drh, DR[t], out=GR[t])
            direct = torch.mul(drh, R[t]) if direct is None else direct.addcmul_(drh, R[t])
        if m_s is None and t > 0:  # dh_{t-1} = dout[t-1] + z dh~ (+ r d(r x_h)) + W^T dgh
            base = torch.addcmul(DOUT[t - 1], dhn, Z[t])
            dh_prev = gemm(DGH[t], base if direct is None else base.add_(direct))
        else:
            dh_prev = gemm(DGH[t], direct.contiguous())
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
