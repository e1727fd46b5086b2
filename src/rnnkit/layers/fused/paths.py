"""Which path a fused LSTM or GRU call runs, and the probes :mod:`.choice` times to decide.

A probe runs a candidate path's loop (and, for training, its backward loop) on copies of the
call's tensors, cut to the first :data:`.choice.PROBE_STEPS` steps: the same shapes, dtype,
options and masks as the real call, without autograd, RNG draws or writes to the caller's
tensors, so timing one changes no result.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

from rnnkit.layers.fused import choice, gemm, kernels
from rnnkit.layers.fused.gru import GRUMasks, gru_loop
from rnnkit.layers.fused.gru_backward import gru_backward
from rnnkit.layers.fused.gru_compiled import gru_backward_compiled, gru_loop_compiled
from rnnkit.layers.fused.lstm import LSTMMasks, lstm_loop
from rnnkit.layers.fused.lstm_backward import lstm_backward
from rnnkit.layers.fused.lstm_compiled import lstm_backward_compiled, lstm_loop_compiled

#: A path's loop -> (forward loop, backward loop) of each family; the same signatures.
LSTM_LOOPS = {
    "compiled": (lstm_loop_compiled, lstm_backward_compiled),
    "torch": (lstm_loop, lstm_backward),
}
GRU_LOOPS = {
    "compiled": (gru_loop_compiled, gru_backward_compiled),
    "torch": (gru_loop, gru_backward),
}


def _copy(x: Any) -> Any:
    """A detached copy of a tensor (a probe never touches the caller's); others as they are."""
    return x.detach().clone() if isinstance(x, Tensor) else x


def _probe_masks(masks: LSTMMasks, T: int) -> LSTMMasks:
    """Copies of the masks for the first T steps (per-step zone weights cut to T)."""
    cut = {
        k: v[:T] if k.startswith("zone") and isinstance(v, Tensor) else v
        for k, v in vars(masks).items()
    }
    return LSTMMasks(**{k: _copy(v) for k, v in cut.items()})


def _flags(masks: LSTMMasks, H: int, **options: Any) -> list[str]:
    """The options and masks a problem has, as its choice key lists them."""
    flags = [name for name, value in options.items() if value is not None and value is not False]
    for name, value in vars(masks).items():
        if isinstance(value, Tensor) and name.startswith("zone"):
            name += ":H" if value.shape[-1] == H else ":1"
        if value is not None:
            flags.append(name if isinstance(value, Tensor) else f"{name}:const")
    return flags


def _rule_pack(weight: Tensor, B: int) -> bool:
    """Whether the fixed rule packs the step GEMM (outside any measured choice)."""
    with gemm.packing(None):
        return gemm.packable(weight, B)


def run_on(path: choice.Path, loop: Callable[..., dict], *args: Any) -> dict:
    """``loop(*args)`` with the step GEMM of ``path``."""
    with gemm.packing(path.pack):
        return loop(*args)


def lstm_path(
    gx: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, options: tuple, masks: LSTMMasks, train: bool
) -> choice.Path:
    """The path for this LSTM problem (:func:`.choice.choose_path`), with its probes."""
    bias, peep, norm_hh, norm_c = options
    gains = [norm[0] for norm in (norm_hh, norm_c) if norm is not None]  # biases: copied
    c_bias = None if norm_c is None else norm_c[1]
    compiled = kernels.usable(gx, peep, *gains, c_bias, *vars(masks).values())
    T, B, G = gx.shape

    def problem() -> str:
        flags = _flags(masks, G // 4, bias=bias, peephole=peep, norm_hh=norm_hh, norm_c=norm_c)
        return choice.key("lstm", flags, T, B, G // 4, gx.dtype, train)

    def probes() -> dict[str, Callable[[], None]]:
        n = min(T, choice.PROBE_STEPS)
        args = [_copy(x) for x in (gx[:n], h0, c0, w_hh, bias, peep)]
        args += [None if m is None else (*map(_copy, m[:2]), m[2]) for m in (norm_hh, norm_c)]
        args.append(_probe_masks(masks, n))
        return {
            name: partial(_lstm_probe, choice.parse(name), args, train)
            for name in choice.candidates(compiled, gemm.can_pack(w_hh))
        }

    return choice.choose_path(
        problem, compiled=compiled, pack=gemm.can_pack(w_hh), rule_pack=_rule_pack(w_hh, B),
        probes=probes,
    )  # fmt: skip


def _lstm_probe(path: choice.Path, args: list, train: bool) -> None:
    """One forward (and, for training, backward) of the LSTM loop on ``path``."""
    loop, backward = LSTM_LOOPS[path.loop]
    run = run_on(path, loop, *args, train)
    if train:
        backward(run, torch.ones_like(run["hs"][1:]), None, None, *args[3:])


def gru_path(
    gx: Tensor,
    h0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    reset_after: bool,
    masks: GRUMasks,
    train: bool,
) -> choice.Path:
    """The path for this GRU problem (:func:`.choice.choose_path`), with its probes."""
    compiled = kernels.usable(gx, masks.state, masks.candidate, masks.zone_h)
    T, B, G = gx.shape

    def problem() -> str:
        flags = _flags(masks, G // 3, bias=b_hh, reset_after=reset_after)
        return choice.key("gru", flags, T, B, G // 3, gx.dtype, train)

    def probes() -> dict[str, Callable[[], None]]:
        n = min(T, choice.PROBE_STEPS)
        args = [*(_copy(x) for x in (gx[:n], h0, w_hh, b_hh)), reset_after, _probe_masks(masks, n)]
        return {
            name: partial(_gru_probe, choice.parse(name), args, train)
            for name in choice.candidates(compiled, gemm.can_pack(w_hh))
        }

    return choice.choose_path(
        problem, compiled=compiled, pack=gemm.can_pack(w_hh), rule_pack=_rule_pack(w_hh, B),
        probes=probes,
    )  # fmt: skip


def _gru_probe(path: choice.Path, args: list, train: bool) -> None:
    """One forward (and, for training, backward) of the GRU loop on ``path``."""
    loop, backward = GRU_LOOPS[path.loop]
    run = run_on(path, loop, *args, train)
    if train:
        run["reset_after"] = args[4]
        backward(run, torch.ones_like(run["hs"][1:]), None, args[2], args[5])
