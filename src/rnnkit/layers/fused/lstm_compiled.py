"""The fused LSTM loops of :mod:`.lstm` and :mod:`.lstm_backward` on the compiled kernels.

Same math, same saved tensors: per step, Python issues the recurrent GEMM and one kernel
call (``_kernels.cpp``: ``lstm_fwd``, ``lstm_bwd``) does all the element-wise work, the
LayerNorms included.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.layers.fused import kernels
from rnnkit.layers.fused.gemm import StepGEMM
from rnnkit.layers.fused.kernels import ptr
from rnnkit.layers.fused.lstm import LSTMMasks
from rnnkit.layers.fused.lstm_backward import _totals

Norm = tuple[Tensor, Tensor, float] | None


def _ln_bias(norm_hh: Norm, bias: Tensor | None) -> Tensor | None:
    """LN_hh's bias with the cell's bias folded in (it is added right after LN_hh)."""
    if norm_hh is None:
        return None
    return norm_hh[1].contiguous() if bias is None else (norm_hh[1] + bias).contiguous()


def lstm_loop_compiled(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    peephole: Tensor | None,
    norm_hh: Norm,
    norm_c: Norm,
    masks: LSTMMasks,
    save: bool,
) -> dict[str, Tensor | None]:
    """:func:`~rnnkit.layers.fused.lstm.lstm_loop` with one kernel call per step."""
    T, B, G = gx.shape
    H = G // 4
    n = T if save else 1
    new = gx.new_empty
    hs, cs = new(T + 1, B, H), new(T + 1, B, H)
    hs[0], cs[0] = h0, c0
    acts, tcs = new(n, B, G), new(n, B, H)
    ctil = cs[1:] if save and masks.zone_c is None else new(n, B, H)  # c~ before zoneout
    ah = new(n, B, G) if norm_hh is not None else None  # W_hh x_h, before LN_hh
    mu, rs = (new(n, B, 1), new(n, B, 1)) if norm_hh is not None else (None, None)
    cmu, crs = (new(n, B, 1), new(n, B, 1)) if norm_c is not None else (None, None)
    if norm_hh is None:
        gemm = StepGEMM(weight_hh, B, bias)  # gh = W_hh x_h + bias
    else:
        gemm, AH = StepGEMM(weight_hh, B, pack=False), ah.unbind(0)
    g_hh, eps_hh = (norm_hh[0], norm_hh[2]) if norm_hh else (None, 0.0)
    g_c, b_c, eps_c = norm_c or (None, None, 0.0)
    ln_b = _ln_bias(norm_hh, bias)
    params = (gx, peephole, g_hh, ln_b, g_c, b_c, masks.candidate)
    bufs = (hs, cs, acts, tcs, ctil, mu, rs, cmu, crs)
    tail = (
        *(ptr(x) for x in params + bufs),
        eps_hh,
        eps_c,
        *kernels.zone(masks.zone_h, H),
        *kernels.zone(masks.zone_c, H),
    )
    head = (kernels.is_double(gx), B, H)
    HS, m_s = hs.unbind(0), masks.state
    for t in range(T):
        x_h = HS[t] if m_s is None else HS[t] * m_s
        gh = gemm(x_h) if ah is None else gemm(x_h, out=AH[t if save else 0])
        kernels.module.lstm_fwd(t, gh.data_ptr(), *head, t if save else 0, *tail)
    out = {"hs": hs, "cs": cs}
    if save:
        out.update(acts=acts, tcs=tcs, ctil=ctil, ah=ah)
        out.update(mu=mu, rs=rs, cmu=cmu, crs=crs)
    return out


def lstm_backward_compiled(
    run: dict,
    dout: Tensor,
    dh_T: Tensor | None,
    dc_T: Tensor | None,
    weight_hh: Tensor,
    bias: Tensor | None,
    peephole: Tensor | None,
    norm_hh: Norm,
    norm_c: Norm,
    masks: LSTMMasks,
) -> dict[str, Tensor | None]:
    """:func:`~rnnkit.layers.fused.lstm_backward.lstm_backward` on the kernels."""
    T, B, G = run["acts"].shape
    H = G // 4
    dA = dout.new_empty(T, B, G)
    dah = dA if norm_hh is None else torch.empty_like(dA)  # d(W_hh x_h): through LN_hh
    DAH = dah.unbind(0)
    zeros = dout.new_zeros
    dln = (zeros(G), zeros(G)) if norm_hh is not None else (None, None)
    dlc = (zeros(H), zeros(H)) if norm_c is not None else (None, None)
    dcs, carries = (
        (dout.new_empty(B, H), dout.new_empty(B, H)),
        (dout.new_empty(B, H), dout.new_empty(B, H)),
    )
    w = weight_hh.contiguous()
    saved = (dout, run["acts"], run["tcs"], run["cs"], run["ctil"], peephole, masks.candidate)
    ln = (run["ah"], run["mu"], run["rs"], None if norm_hh is None else norm_hh[0])
    lc = (run["cmu"], run["crs"], None if norm_c is None else norm_c[0])
    tail = (
        *(ptr(x) for x in (*saved, *ln, *lc, dA, dah, *dln, *dlc)),
        *kernels.zone(masks.zone_h, H),
        *kernels.zone(masks.zone_c, H),
    )
    head = (kernels.is_double(dout), B, H)
    m_s = masks.state
    dh = dout[T - 1] if dh_T is None else dout[T - 1] + dh_T
    dc = dout.new_zeros(B, H) if dc_T is None else dc_T.contiguous()
    for t in range(T - 1, -1, -1):
        dc_prev, carry = dcs[t % 2], carries[t % 2]  # carry = dout[t-1] + z_h dh
        kernels.module.lstm_bwd(
            t, dh.data_ptr(), dc.data_ptr(), dc_prev.data_ptr(), carry.data_ptr(), *head, *tail
        )
        if m_s is None:
            carry.addmm_(DAH[t], w)
        else:
            carry.add_(torch.mm(DAH[t], w).mul_(m_s))
        dh, dc = carry, dc_prev
    grads = _totals(run, dA, dah, dh, dc, peephole, masks)
    if norm_hh is not None:
        grads["norm_hh"] = dln
    if norm_c is not None:
        grads["norm_c"] = dlc
    if bias is not None:
        grads["bias"] = dln[1] if norm_hh is not None else dA.sum((0, 1))
    return grads
