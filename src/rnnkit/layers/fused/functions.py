"""The autograd Functions around the fused loops, and their no-grad shortcut.

``fused_lstm`` and ``fused_gru`` run the whole recurrence in one
:class:`torch.autograd.Function` (forward loop, hand-written backward loop). Everything the
backward pass needs goes through ``ctx.save_for_backward``, so saved-tensor hooks (and with
them non-reentrant activation checkpointing) see all of it. When no gradient is needed, the
loop runs without saving anything per step.

Each call runs one of the paths that compute the same math (compiled step kernels or torch
ops; packed or plain step GEMM), chosen by :mod:`.choice`: measured at first use of a
problem and cached, or forced with ``RNNKIT_FUSED_PATH`` / :func:`.choice.forced`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.layers.fused import kernels
from rnnkit.layers.fused.gru import GRUMasks
from rnnkit.layers.fused.lstm import LSTMMasks
from rnnkit.layers.fused.paths import GRU_LOOPS, LSTM_LOOPS, gru_path, lstm_path, run_on
from rnnkit.layers.fused.shapes import check_gru, check_lstm

Norm = tuple[Tensor, Tensor, float] | None


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _norm(weight: Tensor | None, bias: Tensor | None, eps: float) -> Norm:
    return None if weight is None else (weight, bias, eps)


def _save(ctx: Any, run: dict[str, Tensor | None], masks: LSTMMasks) -> None:
    """Every tensor, masks included, through ``save_for_backward``; float zone weights on ctx."""
    fields = vars(masks)
    ctx.mask_floats = {k: v for k, v in fields.items() if not isinstance(v, Tensor)}
    run = {**run, **{f"mask.{k}": v for k, v in fields.items() if isinstance(v, Tensor)}}
    ctx.names = list(run)
    ctx.save_for_backward(*run.values())
    ctx.set_materialize_grads(False)


def _saved(ctx: Any) -> tuple[dict[str, Tensor | None], LSTMMasks]:
    run = dict(zip(ctx.names, ctx.saved_tensors, strict=True))
    tensors = {k[5:]: run.pop(k) for k in list(run) if k.startswith("mask.")}
    return run, LSTMMasks(**ctx.mask_floats, **tensors)


class FusedLSTM(torch.autograd.Function):
    """gx (T, B, 4H), h0, c0 (B, H) -> h_1..h_T (T, B, H), h_T, c_T (see ``lstm_loop``).

    Inputs: ``gx, h0, c0, weight_hh, bias, peephole, norm_hh gain, norm_hh bias, norm_c
    gain, norm_c bias`` (the last six may be None), then ``masks, eps_hh, eps_c``.
    """

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> tuple[Tensor, Tensor, Tensor]:
        gx, h0, c0, w_hh, bias, peep, g_hh, b_hh, g_c, b_c, masks, eps_hh, eps_c = inputs
        norm_hh, norm_c = _norm(g_hh, b_hh, eps_hh), _norm(g_c, b_c, eps_c)
        options = (bias, peep, norm_hh, norm_c)
        path = lstm_path(gx, h0, c0, w_hh, options, masks, True)
        ctx.loop = path.loop
        run = run_on(path, LSTM_LOOPS[path.loop][0], gx, h0, c0, w_hh, *options, masks, True)
        ctx.eps = (eps_hh, eps_c)
        params = {"w_hh": w_hh, "bias": bias, "peep": peep, "g_hh": g_hh, "b_hh": b_hh}
        _save(ctx, {**run, **params, "g_c": g_c, "b_c": b_c}, masks)
        hs, cs = run["hs"], run["cs"]
        return hs[1:], hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor | None, dh_T: Tensor | None, dc_T: Tensor | None) -> tuple:
        run, masks = _saved(ctx)
        norm_hh = _norm(run["g_hh"], run["b_hh"], ctx.eps[0])
        norm_c = _norm(run["g_c"], run["b_c"], ctx.eps[1])
        dout = torch.zeros_like(run["hs"][1:]) if dout is None else dout.contiguous()
        backward = LSTM_LOOPS[ctx.loop][1]
        grads = backward(
            run,
            dout,
            dh_T,
            dc_T,
            run["w_hh"],
            run["bias"],
            run["peep"],
            norm_hh,
            norm_c,
            masks,
        )
        d_norm_hh = grads.get("norm_hh", (None, None))
        d_norm_c = grads.get("norm_c", (None, None))
        return (
            grads["gx"],
            grads["h0"],
            grads["c0"],
            grads["weight_hh"],
            grads.get("bias"),
            grads.get("peephole"),
            *d_norm_hh,
            *d_norm_c,
            None,
            None,
            None,
        )


class FusedGRU(torch.autograd.Function):
    """gx (T, B, 3H), h0 (B, H) -> h_1..h_T (T, B, H), h_T (see ``gru_loop``)."""

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> tuple[Tensor, Tensor]:
        gx, h0, w_hh, b_hh, reset_after, masks = inputs
        path = gru_path(gx, h0, w_hh, b_hh, reset_after, masks, True)
        ctx.loop = path.loop
        run = run_on(path, GRU_LOOPS[path.loop][0], gx, h0, w_hh, b_hh, reset_after, masks, True)
        ctx.reset_after, ctx.has_bias = reset_after, b_hh is not None
        _save(ctx, {**run, "w_hh": w_hh}, masks)
        hs = run["hs"]
        return hs[1:], hs[-1].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor | None, dh_T: Tensor | None) -> tuple:
        run, masks = _saved(ctx)
        run["reset_after"] = ctx.reset_after
        dout = torch.zeros_like(run["hs"][1:]) if dout is None else dout.contiguous()
        backward = GRU_LOOPS[ctx.loop][1]
        grads = backward(run, dout, dh_T, run["w_hh"], masks)
        db = grads["bias_hh"] if ctx.has_bias else None
        return grads["gx"], grads["h0"], grads["weight_hh"], db, None, None


def fused_lstm(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    *,
    bias: Tensor | None = None,
    peephole: Tensor | None = None,
    norm_hh: Norm = None,
    norm_c: Norm = None,
    masks: LSTMMasks | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The LSTM family over a sequence: (T, B, 4H) -> output (T, B, H), h_T, c_T (B, H).

    Args:
        gx: the input part of the gate pre-activations (``project_input(x)``).
        h0, c0: the initial state, (B, H) each.
        weight_hh: (4H, H), gate order (i, f, g, o).
        bias: (4H,) added to every step's pre-activation (after LN_hh, if any).
        peephole: (3, H) = (w_ci, w_cf, w_co) or None.
        norm_hh: (gain, bias, eps) of a LayerNorm over the 4H recurrent pre-activations.
        norm_c: (gain, bias, eps) of a LayerNorm on c_t before the output tanh.
        masks: zoneout / dropout masks (:class:`LSTMMasks`), shaped as documented there.

    Raises:
        ValueError: a tensor whose shape does not fit gx and h0 (no broadcasting: the
            compiled kernels would read past its end).
    """
    masks = masks or LSTMMasks()
    g_hh, b_hh, eps_hh = norm_hh or (None, None, 0.0)
    g_c, b_c, eps_c = norm_c or (None, None, 0.0)
    norms = {"norm_hh gain": g_hh, "norm_hh bias": b_hh, "norm_c gain": g_c, "norm_c bias": b_c}
    check_lstm(gx, h0, c0, weight_hh, {"bias": bias, "peephole": peephole, **norms}, masks)
    if kernels.available():
        gx = gx.contiguous()
    tensors = (gx, h0, c0, weight_hh, bias, peephole, g_hh, b_hh, g_c, b_c)
    if not _needs_grad(*tensors):
        options = (bias, peephole, norm_hh, norm_c)
        path = lstm_path(gx, h0, c0, weight_hh, options, masks, False)
        run = run_on(path, LSTM_LOOPS[path.loop][0], gx, h0, c0, weight_hh, *options, masks, False)
        hs, cs = run["hs"], run["cs"]
        return hs[1:], hs[-1], cs[-1]
    return FusedLSTM.apply(*tensors, masks, eps_hh, eps_c)


def fused_gru(
    gx: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    *,
    reset_after: bool = True,
    masks: GRUMasks | None = None,
) -> tuple[Tensor, Tensor]:
    """The GRU over a sequence: gx (T, B, 3H) = W_ih x + b_ih -> output (T, B, H), h_T (B, H).

    ``weight_hh`` is (3H, H), ``bias_hh`` (3H,); ``masks`` as in :func:`fused_lstm` (a
    shape that does not fit is a ValueError).
    """
    masks = masks or GRUMasks()
    check_gru(gx, h0, weight_hh, bias_hh, masks)
    if kernels.available():
        gx = gx.contiguous()
    if not _needs_grad(gx, h0, weight_hh, bias_hh):
        path = gru_path(gx, h0, weight_hh, bias_hh, reset_after, masks, False)
        hs = run_on(
            path, GRU_LOOPS[path.loop][0], gx, h0, weight_hh, bias_hh, reset_after, masks, False
        )["hs"]
        return hs[1:], hs[-1]
    return FusedGRU.apply(gx, h0, weight_hh, bias_hh, reset_after, masks)
