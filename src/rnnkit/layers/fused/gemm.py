"""The per-step recurrent GEMM, with oneDNN's pre-packed weights where they are faster.

Every step of a recurrence multiplies a small batch of states by the same weight matrix:
``h @ W.T`` in the forward pass and ``dA @ W`` in the backward pass. On the CPU, oneDNN can
lay the weight out once in its blocked format (``torch.ops.mkldnn._reorder_linear_weight``)
and then run every step on it (``torch.ops.mkldnn._linear_pointwise``, with the addition of
the input part and the bias fused in). On the forward shapes [B, H] x [H, 4H] this measured
up to 1.2-1.5x faster than ``torch.addmm`` with two threads for float32 batches of
:data:`MIN_PACKED_BATCH` rows or more, and no slower with one; for other dtypes, CUDA
tensors or builds without oneDNN the plain ``torch.addmm`` / ``torch.mm`` runs.

Which of the two runs where both can: the fused paths time them at first use of a problem
(:mod:`.choice`) and run their loops inside :func:`packing`; outside it, the fixed rule
(packed for :data:`MIN_PACKED_BATCH` rows or more) decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

#: Smallest batch for which the packed oneDNN GEMM is used (it loses at B = 1).
MIN_PACKED_BATCH = 8

#: Global switch, e.g. for A/B benchmarks: ``rnnkit.layers.fused.gemm.USE_PACKED = False``.
USE_PACKED = True


def _mkldnn_ops() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._reorder_linear_weight and torch.ops.mkldnn._linear_pointwise)
    except (AttributeError, RuntimeError):
        return False


_HAS_MKLDNN = _mkldnn_ops()


#: The measured choice in force (None: the fixed rule); set by :func:`packing`.
_PACK: ContextVar[bool | None] = ContextVar("rnnkit_pack_step_gemm", default=None)


def can_pack(weight: Tensor) -> bool:
    """Whether oneDNN can pack ``weight`` at all: float32 on the CPU, with oneDNN's ops."""
    return (
        USE_PACKED and _HAS_MKLDNN and weight.device.type == "cpu" and weight.dtype == torch.float32
    )


def packable(weight: Tensor, batch_size: int) -> bool:
    """Whether ``weight`` (N, K) is packed for ``batch_size`` rows per step: the choice of
    :func:`packing` in force, else the rule (``batch_size >= MIN_PACKED_BATCH``)."""
    if not can_pack(weight):
        return False
    chosen = _PACK.get()
    return batch_size >= MIN_PACKED_BATCH if chosen is None else chosen


@contextmanager
def packing(pack: bool | None) -> Iterator[None]:
    """Within the block the packable step GEMMs pack (True) or not (False); None: the rule."""
    token = _PACK.set(pack)
    try:
        yield
    finally:
        _PACK.reset(token)


class StepGEMM:
    """``x @ weight.T + bias (+ other)`` for one step, ``x`` (B, K) -> (B, N).

    Args:
        weight: (N, K), as a ``torch.nn.functional.linear`` weight (treated as a constant:
            the caller computes its gradient).
        batch_size: B, the rows of every ``x``.
        bias: (N,) or None.
        pack: use oneDNN's packed weights where :func:`packable` allows (the backward
            passes use ``False``: there ``torch.addmm`` measured as fast or faster).
    """

    def __init__(
        self, weight: Tensor, batch_size: int, bias: Tensor | None = None, *, pack: bool = True
    ) -> None:
        weight = weight.detach()
        self.weight_t = weight.t()  # (K, N)
        self.bias = None if bias is None else bias.detach()
        self.packed: Tensor | None = None
        if pack and packable(weight, batch_size):
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(
                    weight.contiguous(), batch_size
                )
            except RuntimeError:  # a build whose oneDNN refuses the layout
                self.packed = None

    def __call__(self, x: Tensor, other: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        """(B, K) -> (B, N), plus ``other`` (B, N) when given; into ``out`` if given."""
        if out is not None:
            if self.packed is None and other is None and self.bias is None:
                return torch.mm(x, self.weight_t, out=out)
            return out.copy_(self(x, other))
        bias = self.bias
        if self.packed is not None:
            if other is None:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, bias, "none", [], "")
            return torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, bias, "add")
        if other is None:
            return (
                torch.mm(x, self.weight_t) if bias is None else torch.addmm(bias, x, self.weight_t)
            )
        out = torch.addmm(other, x, self.weight_t)
        return out if bias is None else out.add_(bias)
