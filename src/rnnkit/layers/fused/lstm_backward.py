"""Backpropagation through time for :func:`rnnkit.layers.fused.lstm.lstm_loop`.

Notation as in :mod:`rnnkit.layers.fused.lstm`; ``d*`` is the gradient of the loss. Going
back from step t, with ``dh``, ``dc`` the gradients of the state (h_t, c_t)::

    dh~ = (1 - z_h) dh;  dc~ = (1 - z_c) dc                  (zoneout / frozen steps)
    da_o = dh~ ⊙ tanh(c~) ⊙ o(1 - o)
    dc~ += dh~ ⊙ o ⊙ (1 - tanh²)       (through LN_c's backward when normalized)
    dc~ += da_o ⊙ w_co                                       (peephole)
    da_i = dc~ ⊙ m_g g ⊙ i(1 - i);  da_f = dc~ ⊙ c ⊙ f(1 - f);  da_g = dc~ ⊙ m_g i ⊙ (1 - g²)
    dc_{t-1} = dc~ ⊙ f + z_c dc + da_i ⊙ w_ci + da_f ⊙ w_cf
    dh_{t-1} = dout[t-1] + m_s ⊙ (W_hhᵀ da) + z_h dh           (da through LN_hh's backward)

``dgx[t] = da``; ``dW_hh = Σ_t da_tᵀ (m_s ⊙ h_{t-1})`` is one GEMM over all T·B rows, and
the peephole and LayerNorm gains and biases are reductions over all steps. The derivative
factors are formed step by step from the saved activations (about a dozen small fused ops,
``addcmul(s, s, s, value=-1) = s(1 - s)`` and the like): a step's tensors stay in cache,
where passes over whole (T, B, H) tensors would stream through memory.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.layers.fused.gemm import StepGEMM
from rnnkit.layers.fused.lstm import LSTMMasks, _steps, _zone_steps

_ln_backward = torch.ops.aten.native_layer_norm_backward
_ALL = [True, True, True]  # LayerNorm backward: input, gain and bias gradients


def _one_minus(z: Tensor | float | None) -> Tensor | float | None:
    return None if z is None else 1 - z


def add_scaled(acc: Tensor, x: Tensor, z: Tensor | float) -> Tensor:
    """``acc += z ⊙ x`` in place, ``z`` a tensor or a float."""
    return acc.addcmul_(x, z) if isinstance(z, Tensor) else acc.add_(x, alpha=z)


def lstm_backward(
    run: dict,
    dout: Tensor,
    dh_T: Tensor | None,
    dc_T: Tensor | None,
    weight_hh: Tensor,
    bias: Tensor | None,
    peephole: Tensor | None,
    norm_hh: tuple[Tensor, Tensor, float] | None,
    norm_c: tuple[Tensor, Tensor, float] | None,
    masks: LSTMMasks,
) -> dict[str, Tensor | None]:
    """Gradients of gx, h0, c0, weight_hh, bias, peephole and the LayerNorm gains and biases."""
    T, B, G = run["acts"].shape
    H = G // 4
    gemm = StepGEMM(weight_hh.t().contiguous(), B, pack=False)  # da (B, 4H) -> da @ W_hh (B, H)
    dA = dout.new_empty(T, B, G)
    DI, DF, DG, DO = (_steps(x, T) for x in dA.unflatten(-1, (4, H)).unbind(2))
    AI, AF, AG, AO = (_steps(x, T) for x in run["acts"].unflatten(-1, (4, H)).unbind(2))
    TC, CS, DOUT, DA = _steps(run["tcs"], T), run["cs"].unbind(0), dout.unbind(0), dA.unbind(0)
    ZH, ZC = _zone_steps(masks.zone_h, T), _zone_steps(masks.zone_c, T)
    UH, UC = _zone_steps(_one_minus(masks.zone_h), T), _zone_steps(_one_minus(masks.zone_c), T)
    m_g, m_s = masks.candidate, masks.state
    if peephole is not None:
        w_ci, w_cf, w_co = peephole.unbind(0)
    sums: dict[str, Tensor] = {}  # LayerNorm gain and bias gradients, summed over steps
    if norm_c is not None:
        CT, CMU, CRS = (x.unbind(0) for x in (run["ctil"], run["cmu"], run["crs"]))
    dah = dA if norm_hh is None else torch.empty_like(dA)  # d(W_hh x_h): through LN_hh
    if norm_hh is not None:
        AH, MU, RS, DAH = (x.unbind(0) for x in (run["ah"], run["mu"], run["rs"], dah))
    dh = DOUT[T - 1] if dh_T is None else DOUT[T - 1] + dh_T
    dc = torch.zeros_like(dh) if dc_T is None else dc_T
    for t in range(T - 1, -1, -1):
        dhn = dh if UH[t] is None else dh * UH[t]
        dcn = dc if UC[t] is None else dc * UC[t]
        u = dhn * AO[t]
        v = u * TC[t]
        torch.addcmul(v, v, AO[t], value=-1.0, out=DO[t])  # dh~ tanh o (1 - o)
        if norm_c is None:  # dc~ = dc + dh~ o (1 - tanh²)
            dct = torch.addcmul(dcn, v, TC[t], value=-1.0).add_(u)
        else:
            dcl = torch.addcmul(u, v, TC[t], value=-1.0)  # d LN_c(c~)
            dln = _ln_backward(dcl, CT[t], (H,), CMU[t], CRS[t], norm_c[0], norm_c[1], _ALL)
            _accumulate(sums, "norm_c", dln[1:])
            dct = dln[0].add_(dcn)
        if peephole is not None:
            dct.addcmul_(DO[t], w_co)
        y = dct * AI[t] if m_g is None else dct * AI[t] * m_g
        z = y * AG[t]
        torch.addcmul(y, z, AG[t], value=-1.0, out=DG[t])  # dc~ i m_g (1 - g²)
        torch.addcmul(z, z, AI[t], value=-1.0, out=DI[t])  # dc~ m_g g i (1 - i)
        dc_prev = dct * AF[t]
        r = dc_prev * CS[t]
        torch.addcmul(r, r, AF[t], value=-1.0, out=DF[t])  # dc~ c f (1 - f)
        if ZC[t] is not None:
            add_scaled(dc_prev, dc, ZC[t])
        if peephole is not None:
            dc_prev.addcmul_(DI[t], w_ci).addcmul_(DF[t], w_cf)
        da = DA[t]
        if norm_hh is not None:
            dln = _ln_backward(da, AH[t], (G,), MU[t], RS[t], norm_hh[0], norm_hh[1], _ALL)
            _accumulate(sums, "norm_hh", dln[1:])
            da = DAH[t].copy_(dln[0])  # into one buffer for the dW_hh GEMM
        if m_s is None:
            dh_prev = gemm(da, DOUT[t - 1]) if t > 0 else gemm(da)
        else:
            dh_prev = gemm(da).mul_(m_s)
            if t > 0:
                dh_prev.add_(DOUT[t - 1])
        if ZH[t] is not None:
            add_scaled(dh_prev, dh, ZH[t])
        dh, dc = dh_prev, dc_prev
    grads = _totals(run, dA, dah, dh, dc, peephole, masks)
    grads.update(sums)
    if bias is not None:
        grads["bias"] = sums["norm_hh"][1] if norm_hh is not None else dA.sum((0, 1))
    return grads


def _accumulate(sums: dict[str, Tensor], key: str, grads: tuple[Tensor, Tensor]) -> None:
    """``sums[key] += grads`` (gain and bias gradients of one step)."""
    if key in sums:
        sums[key][0].add_(grads[0]), sums[key][1].add_(grads[1])
    else:
        sums[key] = grads


def _totals(
    run: dict,
    dA: Tensor,
    dah: Tensor,
    dh0: Tensor,
    dc0: Tensor,
    peephole: Tensor | None,
    masks: LSTMMasks,
) -> dict[str, Tensor]:
    """The batched gradients after the loop: one GEMM for dW_hh, reductions for the peepholes."""
    T, B, G = dA.shape
    H = G // 4
    rows = (0, 1)
    h_in = run["hs"][:-1] if masks.state is None else run["hs"][:-1] * masks.state
    grads = {"gx": dA, "h0": dh0, "c0": dc0}
    grads["weight_hh"] = dah.reshape(T * B, G).t() @ h_in.reshape(T * B, H)  # (4H, H)
    if peephole is not None:
        d_i, d_f, _, d_o = dA.unflatten(-1, (4, H)).unbind(2)
        c_prev = run["cs"][:-1]
        grads["peephole"] = torch.stack(
            [(d_i * c_prev).sum(rows), (d_f * c_prev).sum(rows), (d_o * run["ctil"]).sum(rows)]
        )
    return grads
