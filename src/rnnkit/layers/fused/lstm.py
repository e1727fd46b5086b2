r"""The LSTM family fused into one autograd Function over the whole sequence.

One Function covers :class:`~rnnkit.cells.lstm.LSTMCell`,
:class:`~rnnkit.cells.peephole_lstm.PeepholeLSTMCell` and
:class:`~rnnkit.cells.layer_norm_lstm.LayerNormLSTMCell`, with zoneout, recurrent dropout on
the candidate, a variational mask on the recurrent input and length freezing. With the input
part ``gx`` (T, B, 4H) already projected (one GEMM outside, by the cell), step t computes::

    a   = gx[t] + W_hh (m_s ⊙ h) + b                     or  gx[t] + LN_hh(W_hh (m_s ⊙ h)) + b
    a_i += w_ci ⊙ c;  a_f += w_cf ⊙ c                    (peepholes)
    i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
    c~  = f ⊙ c + i ⊙ (m_g ⊙ g)                          (m_g: recurrent dropout)
    a_o += w_co ⊙ c~;  o = σ(a_o)                        (peephole)
    h~  = o ⊙ tanh(c~)                                   or  o ⊙ tanh(LN_c(c~))
    h_t = lerp(h~, h, z_h[t]);  c_t = lerp(c~, c, z_c[t]) (zoneout and frozen steps)

``bias`` (4H,) is the bias the cell adds after the projection (``b_hh``; LayerNormLSTMCell's
``b``, which then joins LN_hh's bias); it rides along in the step GEMM. tanh is computed as
``2 σ(2x) - 1``: the g block is doubled and a single sigmoid covers all four gates (on CPU
torch's tanh costs about three sigmoids).

The backward pass runs the recurrence once in reverse with about five element-wise ops and
one GEMM per step; the derivative factors are computed for all steps at once before the
loop, and the weight gradients after it, each as one GEMM or reduction over all T·B rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.layers.fused.gemm import StepGEMM

Zone = Tensor | float | None


@dataclass
class LSTMMasks:
    """Masks sampled by the regularizers (all optional).

    Attributes:
        zone_h: weight of the old h in ``lerp(h~, h, z)``: (T, B, H) or (T, B, 1) 0/1 masks
            (training zoneout, frozen steps), or a float (eval zoneout).
        zone_c: the same for c.
        candidate: (B, H) recurrent-dropout mask on the candidate g.
        state: (B, H) variational mask on the h the step reads (not on the carried state).
    """

    zone_h: Zone = None
    zone_c: Zone = None
    candidate: Tensor | None = None
    state: Tensor | None = None


def _steps(x: Tensor, T: int) -> list[Tensor]:
    """(n, ...) -> T per-step views: the rows of ``x`` if n == T, else its one row T times."""
    return list(x.unbind(0)) if x.shape[0] == T else [x[0]] * T


def _zone_steps(z: Zone, T: int) -> list:
    return list(z.unbind(0)) if isinstance(z, Tensor) else [z] * T


def tanh_into(x: Tensor, out: Tensor, minus_one: Tensor) -> Tensor:
    """``out = tanh(x)`` as ``2 σ(x + x) - 1`` (three cheap ops beat torch.tanh on CPU).

    ``minus_one`` is a 0-dim tensor holding -1 (made once per sequence).
    """
    torch.sigmoid(torch.add(x, x, out=out), out=out)
    return torch.add(minus_one, out, alpha=2.0, out=out)


def _g_doubler(like: Tensor, H: int) -> Tensor:
    """(4H,) ones with the g block 2: ``σ(doubler ⊙ a)`` gives σ(a_i), σ(a_f), σ(2 a_g), σ(a_o)."""
    scale = like.new_ones(4, H)
    scale[2] = 2.0
    return scale.flatten()


def lstm_loop(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    peephole: Tensor | None,
    norm_hh: tuple[Tensor, Tensor, float] | None,
    norm_c: tuple[Tensor, Tensor, float] | None,
    masks: LSTMMasks,
    save: bool,
) -> dict[str, Tensor | None]:
    """Run the recurrence: ``hs``, ``cs`` (T+1, B, H) and, with ``save``, what backward needs."""
    T, B, G = gx.shape
    H = G // 4
    n = T if save else 1
    if norm_hh is None:
        gemm = StepGEMM(weight_hh, B, bias)  # a = gx[t] + W_hh x_h + bias
    else:  # the bias after LN_hh joins LN_hh's own bias; W_hh x_h is kept for LN's backward
        gemm = StepGEMM(weight_hh, B, pack=False)
        ln_bias = norm_hh[1] if bias is None else norm_hh[1] + bias
        ah = gx.new_empty(n, B, G)
        AH = _steps(ah, T)
    doubler = _g_doubler(gx, H)
    hs, cs = gx.new_empty(T + 1, B, H), gx.new_empty(T + 1, B, H)
    hs[0], cs[0] = h0, c0
    acts = gx.new_empty(n, B, G)  # i, f, g, o after their nonlinearities
    tcs = gx.new_empty(n, B, H)  # tanh(c~) or tanh(LN_c(c~))
    ctil = cs[1:] if masks.zone_c is None else gx.new_empty(n, B, H)  # c~ before zoneout
    i_, f_, g_, o_ = (_steps(a, T) for a in acts.unflatten(-1, (4, H)).unbind(2))
    A, TC, CT = _steps(acts, T), _steps(tcs, T), _steps(ctil, T)
    HS, CS, GX = hs.unbind(0), cs.unbind(0), gx.unbind(0)
    ZH, ZC = _zone_steps(masks.zone_h, T), _zone_steps(masks.zone_c, T)
    m_g, m_s = masks.candidate, masks.state
    minus_one = torch.full((), -1.0, dtype=gx.dtype, device=gx.device)
    if peephole is not None:
        w_if, w_co = peephole[:2].unsqueeze(0), peephole[2]  # (1, 2, H), (H,)
    mu, rs, cmu, crs = [], [], [], []
    for t in range(T):
        h, c = HS[t], CS[t]
        x_h = h if m_s is None else h * m_s
        if norm_hh is None:
            a = gemm(x_h, GX[t])  # (B, 4H)
        else:
            a_h = gemm(x_h, out=AH[t])  # (B, 4H)
            a, mu_t, rs_t = torch.native_layer_norm(a_h, (G,), norm_hh[0], ln_bias, norm_hh[2])
            a.add_(GX[t])
            if save:
                mu.append(mu_t), rs.append(rs_t)
        if peephole is not None:
            a4 = a.view(B, 4, H)
            a4[:, :2].addcmul_(w_if, c.unsqueeze(1))
        torch.mul(a, doubler, out=A[t]).sigmoid_()
        g = torch.add(minus_one, g_[t], alpha=2.0, out=g_[t])  # tanh(a_g) = 2 σ(2 a_g) - 1
        ct = torch.mul(f_[t], c, out=CT[t])
        ct.addcmul_(i_[t], g if m_g is None else g * m_g)
        if peephole is not None:
            torch.sigmoid(torch.addcmul(a4[:, 3], w_co, ct), out=o_[t])
        cn = ct
        if norm_c is not None:
            cn, cmu_t, crs_t = torch.native_layer_norm(ct, (H,), norm_c[0], norm_c[1], norm_c[2])
            if save:
                cmu.append(cmu_t), crs.append(crs_t)
        tc = tanh_into(cn, TC[t], minus_one)
        if ZH[t] is None:
            torch.mul(o_[t], tc, out=HS[t + 1])
        else:
            torch.lerp(o_[t] * tc, h, ZH[t], out=HS[t + 1])
        if ZC[t] is not None:
            torch.lerp(ct, c, ZC[t], out=CS[t + 1])
    out = {"hs": hs, "cs": cs}
    if save:
        out.update(acts=acts, tcs=tcs, ctil=ctil)
        out["ah"] = None if norm_hh is None else ah
        for name, seq in (("mu", mu), ("rs", rs), ("cmu", cmu), ("crs", crs)):
            out[name] = torch.stack(seq) if seq else None
    return out
