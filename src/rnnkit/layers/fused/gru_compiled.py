"""The fused GRU loops of :mod:`.gru` and :mod:`.gru_backward` on the compiled step kernels.

Same math, same saved tensors: per step, Python issues the recurrent GEMM(s) and one
kernel call does all the element-wise work (``_kernels.cpp``: ``gru_after_fwd``,
``gru_before_fwd_rz`` / ``gru_before_fwd_n``, ``gru_bwd``, ``gru_before_bwd_r``). With the
reset after, the opt-in :data:`.kernels.SEQUENCE` runs the whole sequence in one call
instead (``gru_seq_fwd``, ``gru_seq_bwd``; see lstm_compiled.py).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from rnnkit.layers.fused import kernels
from rnnkit.layers.fused.gemm import StepGEMM, packable
from rnnkit.layers.fused.gru import GRUMasks
from rnnkit.layers.fused.kernels import ptr


def gru_loop_compiled(
    gx: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    reset_after: bool,
    masks: GRUMasks,
    save: bool,
) -> dict[str, Tensor | None]:
    """:func:`~rnnkit.layers.fused.gru.gru_loop` with one kernel call a step (reset before: two)."""
    k = kernels.module
    T, B, G = gx.shape
    H = G // 3
    n = T if save else 1
    new = partial(kernels.buffer, gx)
    hs = new(T + 1, B, H)
    hs[0] = h0
    rz, cand, extra = new(n, B, 2 * H), new(n, B, H), new(n, B, H)
    HS, m_s = hs.unbind(0), masks.state
    head = (kernels.is_double(gx), B, H)
    ms, mg, zone = ptr(m_s), ptr(masks.candidate), kernels.zone(masks.zone_h, H)
    seq = kernels.sequence_gemm(gx) if reset_after and packable(weight_hh, B) else None
    if seq is not None:  # extra = gh_n
        packed = kernels.pack(weight_hh, B, transposed=True)  # x_h (B, H) @ W_hhᵀ
        scratch = gx.new_empty(B * (G + H))  # gh, then m_s ⊙ h
        bias = None if bias_hh is None else bias_hh.detach().contiguous()
        bufs = (gx.data_ptr(), hs.data_ptr(), rz.data_ptr(), cand.data_ptr(), extra.data_ptr())
        k.gru_seq_fwd(
            T, int(save), seq, packed.data_ptr(), ms, scratch.data_ptr(), ptr(bias),
            0, None, *head, 0, *bufs, ms, mg, *zone,
        )  # fmt: skip
    elif reset_after:  # extra = gh_n
        gemm = StepGEMM(weight_hh, B, bias_hh)
        bufs = (gx.data_ptr(), hs.data_ptr(), rz.data_ptr(), cand.data_ptr(), extra.data_ptr())
        for t in range(T):
            gh = gemm(HS[t] if m_s is None else HS[t] * m_s)
            k.gru_after_fwd(t, gh.data_ptr(), *head, t if save else 0, *bufs, ms, mg, *zone)
    else:  # extra = r ⊙ x_h
        b_rz, b_n = (None, None) if bias_hh is None else bias_hh.split((2 * H, H))
        gemm_rz = StepGEMM(weight_hh[: 2 * H], B, b_rz)
        gemm_n = StepGEMM(weight_hh[2 * H :], B, b_n)
        RH = extra.unbind(0)
        rz_bufs = (gx.data_ptr(), hs.data_ptr(), rz.data_ptr(), extra.data_ptr(), ms)
        n_bufs = (gx.data_ptr(), hs.data_ptr(), rz.data_ptr(), cand.data_ptr(), ms, mg)
        for t in range(T):
            st = t if save else 0
            grz = gemm_rz(HS[t] if m_s is None else HS[t] * m_s)
            k.gru_before_fwd_rz(t, grz.data_ptr(), *head, st, *rz_bufs)
            gn = gemm_n(RH[st])
            k.gru_before_fwd_n(t, gn.data_ptr(), *head, st, *n_bufs, *zone)
    out = {"hs": hs}
    if save:
        out.update(rz=rz, cand=cand, extra=extra)
    return out


def gru_backward_compiled(
    run: dict, dout: Tensor, dh_T: Tensor | None, weight_hh: Tensor, masks: GRUMasks
) -> dict[str, Tensor]:
    """:func:`~rnnkit.layers.fused.gru_backward.gru_backward` on the kernels.

    The kernels write the gate gradients straight into ``dgx`` (T, B, 3H); with the reset
    after, the rows that multiply W_hh differ in the n block (``da_n ⊙ r``) and go to ``dgh``.
    """
    k = kernels.module
    T, B, H = dout.shape
    after, m_s = run["reset_after"], masks.state
    dgx = kernels.buffer(dout, T, B, 3 * H)
    dgh = kernels.buffer(dout, T, B, 3 * H) if after else dgx[..., : 2 * H]
    DGH, DAN = dgh.unbind(0), dgx[..., 2 * H :].unbind(0)
    directs, carry = dout.new_empty(2, B, H), dout.new_empty(B, H)  # step t: directs[t % 2]
    w = weight_hh.contiguous() if after else weight_hh[: 2 * H].contiguous()
    if not after:  # the W_n GEMM and its output, for d(r ⊙ x_h)
        w_n, drh = weight_hh[2 * H :].contiguous(), dout.new_empty(B, H)
    hs, rz, gx_ptr = run["hs"].data_ptr(), run["rz"].data_ptr(), dgx.data_ptr()
    head = (kernels.is_double(dout), B, H)
    ghn, dgh_ptr = (run["extra"].data_ptr(), dgh.data_ptr()) if after else (None, None)
    saved = (dout.data_ptr(), hs, rz, run["cand"].data_ptr(), ghn, gx_ptr, dgh_ptr)
    tail = (ptr(m_s), ptr(masks.candidate), *kernels.zone(masks.zone_h, H))
    dh = dout[T - 1] if dh_T is None else dout[T - 1] + dh_T
    seq = kernels.sequence_gemm(dout) if after and packable(weight_hh, B) else None
    if seq is not None:
        packed = kernels.pack(w, B, transposed=False)  # dgh (B, 3H) @ W_hh
        bufs = (d.data_ptr() for d in (dh, directs[0], carry))
        k.gru_seq_bwd(
            T, seq, packed.data_ptr(), ptr(m_s), None, directs.data_ptr(),
            0, *bufs, *head, *saved, *tail,
        )  # fmt: skip
        dh = directs[0]
    for t in range(T - 1, -1, -1) if seq is None else ():
        d = directs[t % 2]
        k.gru_bwd(t, dh.data_ptr(), d.data_ptr(), carry.data_ptr(), *head, *saved, *tail)
        if not after:  # d(r ⊙ x_h) = W_n^T da_n, then da_r
            torch.mm(DAN[t], w_n, out=drh)
            k.gru_before_bwd_r(t, drh.data_ptr(), d.data_ptr(), *head, hs, rz, gx_ptr, tail[0])
        d.addmm_(DGH[t], w)
        if m_s is not None:
            d.mul_(m_s).add_(carry)
        dh = d
    x_h = (run["hs"][:-1] if m_s is None else run["hs"][:-1] * m_s).reshape(T * B, H)
    rows = dgx.view(T * B, 3 * H)
    if after:
        dW = dgh.view(T * B, 3 * H).t() @ x_h
        db = dgh.sum((0, 1))
    else:
        rh = run["extra"].view(T * B, H)  # r ⊙ x_h
        dW = torch.cat([rows[:, : 2 * H].t() @ x_h, rows[:, 2 * H :].t() @ rh])
        db = rows.sum(0)
    return {"gx": dgx, "h0": dh, "weight_hh": dW, "bias_hh": db}
