"""Which cells run on a fused kernel, and the call the time loop makes.

A cell type opts in by registering a *spec builder*: a function ``cell -> spec`` that reads
the cell's tensors (at call time, so ``functional_call`` and weight drop substitutions are
seen) and states which fused kernel computes exactly its ``step``. Only the exact
registered type is fused; a subclass (which may override ``step``) takes the generic loop,
as does any cell with a candidate dropout that is not a :class:`RecurrentDropout`, and every
cell inside :func:`disabled` or in path mode ``step`` (``RNNKIT_FUSED_PATH=step`` or
``choice.forced("step")``; :mod:`.choice` picks among the fused paths themselves).

Registered here: :class:`LSTMCell`, :class:`PeepholeLSTMCell`, :class:`LayerNormLSTMCell`
(one LSTM kernel) and :class:`GRUCell` in both reset forms. A new cell with LSTM or GRU
math registers with ``@register(MyCell)`` and returns an :class:`LSTMSpec` or
:class:`GRUSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.cells.state import LSTMState, State, map_state
from rnnkit.layers.fused import choice
from rnnkit.layers.fused.functions import Norm, fused_gru, fused_lstm
from rnnkit.layers.fused.lstm import LSTMMasks, Zone
from rnnkit.regularizers import RecurrentDropout, VariationalDropout, Zoneout


@dataclass(frozen=True)
class LSTMSpec:
    """An LSTM-family step for :func:`~rnnkit.layers.fused.fused_lstm`.

    Attributes:
        weight_hh: (4H, H), gate order (i, f, g, o).
        bias: (4H,) added to every step's pre-activation (after LN_hh, if any), or None.
        peephole: (3, H) = (w_ci, w_cf, w_co), or None.
        norm_hh: (gain, bias, eps) of LN over the 4H recurrent pre-activations, or None.
        norm_c: (gain, bias, eps) of LN on c_t before the output tanh, or None.
    """

    weight_hh: Tensor
    bias: Tensor | None = None
    peephole: Tensor | None = None
    norm_hh: Norm = None
    norm_c: Norm = None


@dataclass(frozen=True)
class GRUSpec:
    """A GRU step for :func:`~rnnkit.layers.fused.fused_gru` (``torch.nn.GRUCell`` layout)."""

    weight_hh: Tensor
    bias_hh: Tensor | None
    reset_after: bool


Spec = LSTMSpec | GRUSpec
SPECS: dict[type, Callable[[RecurrentCell], Spec]] = {}
_ENABLED = [True]


def register(cell_type: type) -> Callable:
    """Decorator: ``@register(MyCell)`` on a function ``cell -> LSTMSpec | GRUSpec``."""

    def wrap(builder: Callable[[RecurrentCell], Spec]) -> Callable[[RecurrentCell], Spec]:
        SPECS[cell_type] = builder
        return builder

    return wrap


@contextmanager
def disabled() -> Iterator[None]:
    """Within the block every cell takes the generic step loop (tests, A/B benchmarks)."""
    _ENABLED.append(False)
    try:
        yield
    finally:
        _ENABLED.pop()


def _ln(norm: nn.LayerNorm | None) -> Norm:
    return None if norm is None else (norm.weight, norm.bias, norm.eps)


@register(LSTMCell)
def _lstm(cell: LSTMCell) -> LSTMSpec:
    return LSTMSpec(cell.weight_hh, cell.bias_hh)


@register(PeepholeLSTMCell)
def _peephole(cell: PeepholeLSTMCell) -> LSTMSpec:
    peephole = torch.stack([cell.weight_ci, cell.weight_cf, cell.weight_co])  # (3, H)
    return LSTMSpec(cell.weight_hh, cell.bias_hh, peephole=peephole)


@register(LayerNormLSTMCell)
def _layer_norm(cell: LayerNormLSTMCell) -> LSTMSpec:
    return LSTMSpec(cell.weight_hh, cell.bias, norm_hh=_ln(cell.norm_hh), norm_c=_ln(cell.norm_c))


@register(GRUCell)
def _gru(cell: GRUCell) -> GRUSpec:
    return GRUSpec(cell.weight_hh, cell.bias_hh, cell.reset_after)


def fused_spec(cell: RecurrentCell) -> Spec | None:
    """The cell's fused-kernel spec, or None when it must take the generic loop."""
    builder = SPECS.get(type(cell))
    dropout = cell.candidate_dropout
    if not _ENABLED[-1] or builder is None or choice.mode() == "step":
        return None
    if dropout is not None and not isinstance(dropout, RecurrentDropout):
        return None
    return builder(cell)


def _mask(module: nn.Module | None, like: Tensor) -> Tensor | None:
    """The (B, H) mask a per-sequence dropout object applies (drawn by it), or None."""
    if module is None or not module.training or module.p == 0.0:
        return None
    return module(torch.ones_like(like))  # ones ⊙ mask: the object's own mask


def _zone(p: float, training: bool, shape: tuple[int, ...], like: Tensor) -> Zone:
    """Zoneout's weight of the old value: per-step 0/1 draws (training) or ``p`` (eval)."""
    if p == 0.0:
        return None
    if not training:
        return p
    u = torch.rand(shape, dtype=like.dtype, device=like.device)
    return u.lt_(p)  # 1 with probability p (twice as fast as bernoulli_ on CPU)


def _freeze(zone: Zone, valid: Tensor | None, like: Tensor) -> Zone:
    """Fold the frozen steps (valid (T, B) False) into a zone weight: 1 = keep the old value."""
    if valid is None:
        return zone
    keep = valid.unsqueeze(-1)  # (T, B, 1)
    if zone is None:
        return (~keep).to(like.dtype)
    one = torch.ones((), dtype=like.dtype, device=like.device)
    return torch.where(keep, zone if isinstance(zone, Tensor) else one * zone, one)


def fused_unroll(
    cell: RecurrentCell,
    gx: Tensor,
    state: State,
    *,
    state_dropout: VariationalDropout | None = None,
    zoneout: Zoneout | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, State] | None:
    """The time loop of :class:`~rnnkit.layers.Recurrent` on a fused kernel, or None.

    Under autocast (bf16/fp16), ``gx`` and the state are cast to the weights' dtype and the
    loop runs with autocast off: the compiled kernels take float32/64 only, and the state,
    the cell memory and layer-norm statistics stay float32.

    Args:
        cell: the cell; None is returned unless :func:`fused_spec` has a spec for it.
        gx: ``cell.project_input(x)`` for all steps, (T, B, G).
        state: the initial state.
        state_dropout, zoneout: the layer's regularizers (their masks are drawn here).
        valid: (T, B) bool, False where a sequence has ended (its state is frozen).

    Returns:
        ``(output (T, B, H), final state)``, or None when the generic loop must run.
    """
    spec = fused_spec(cell)
    if spec is None:
        return None
    if torch.is_autocast_enabled(gx.device.type):  # the recurrence runs in the weights' dtype
        to_w = partial(Tensor.to, dtype=spec.weight_hh.dtype)
        with torch.autocast(gx.device.type, enabled=False):
            return fused_unroll(
                cell, to_w(gx), map_state(to_w, state), state_dropout=state_dropout,
                zoneout=zoneout, valid=valid,
            )  # fmt: skip
    h0 = state if isinstance(state, Tensor) else state[0]
    T, B, H = gx.shape[0], h0.shape[0], h0.shape[-1]
    masks = LSTMMasks(state=_mask(state_dropout, h0))  # drawn in the step loop's order
    masks.candidate = _mask(cell.candidate_dropout, h0)
    zone = zoneout is not None and zoneout.training
    z_h = _zone(zoneout.p, zone, (T, B, H), h0) if zoneout is not None else None
    masks.zone_h = _freeze(z_h, valid, h0)
    if isinstance(spec, GRUSpec):
        out, h = fused_gru(
            gx, h0, spec.weight_hh, spec.bias_hh, reset_after=spec.reset_after, masks=masks
        )
        return out, h
    z_c = _zone(zoneout.p_c, zone, (T, B, H), h0) if zoneout is not None else None
    masks.zone_c = _freeze(z_c, valid, h0)
    out, h, c = fused_lstm(
        gx,
        h0,
        state[1],
        spec.weight_hh,
        bias=spec.bias,
        peephole=spec.peephole,
        norm_hh=spec.norm_hh,
        norm_c=spec.norm_c,
        masks=masks,
    )
    return out, LSTMState(h, c)
