"""The per-step recurrent GEMM, with oneDNN's pre-packed weights where they are faster.

Every step of a recurrence multiplies a small batch of states by the same weight matrix:
``h @ W.T`` in the forward pass and ``dA @ W`` in the backward pass. On the CPU, oneDNN can
lay the weight out once in its blocked format (``torch.ops.mkldnn._reorder_linear_weight``)
and then run every step on it (``torch.ops.mkldnn._linear_pointwise``, with the addition of
the input part and the bias fused in). On the forward shapes [B, H] x [H, 4H] this measured
up to 1.2-1.5x faster than ``torch.addmm`` with two threads for float32 batches of
:data:`MIN_PACKED_BATCH` rows or more, and no slower with one; for tiny batches, other
dtypes, CUDA tensors or builds without oneDNN the plain ``torch.addmm`` / ``torch.mm`` runs.
"""

from __future__ import annotations

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


def packable(weight: Tensor, batch_size: int) -> bool:
    """Whether ``weight`` (N, K) is worth packing for ``batch_size`` rows per step."""
    return (
        USE_PACKED
        and _HAS_MKLDNN
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and batch_size >= MIN_PACKED_BATCH
    )


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
