"""rnnkit's generic path under torch's tracer.

The drop-ins hand their tensors to the template cells with ``torch.func.functional_call``,
which refuses to run while the TorchScript tracer records. :func:`traceable_generic_path`
swaps in a plain version for the length of an export: the tensors are put into the template's
empty slots for the call and taken out again (the same tensors, so the same numbers). The
fused kernels are switched off too: they run outside torch's dispatcher, so the tracer would
record their results as constants; the generic step loop computes the same values in torch ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from rnnkit.layers import dropin
from rnnkit.layers.fused import dispatch


def _slots(module: nn.Module, path: str) -> tuple[dict, str]:
    owner, _, leaf = path.rpartition(".")
    holder = module.get_submodule(owner) if owner else module
    return (holder._parameters if leaf in holder._parameters else holder._buffers), leaf


def plain_functional_call(
    module: nn.Module, tensors: dict[str, Tensor], args: tuple, kwargs: dict | None = None
) -> Any:
    """``functional_call`` by filling the module's slots for one call (tracer-friendly)."""
    slots = [(*_slots(module, path), t) for path, t in tensors.items()]
    saved = [(table, leaf, table[leaf]) for table, leaf, _ in slots]
    for table, leaf, t in slots:
        table[leaf] = t
    try:
        return module(*args, **(kwargs or {}))
    finally:
        for table, leaf, old in saved:
            table[leaf] = old


@contextmanager
def traceable_generic_path() -> Iterator[None]:
    """Within: the drop-ins' generic path calls :func:`plain_functional_call`, unfused."""
    original = dropin.functional_call
    dropin.functional_call = plain_functional_call
    try:
        with dispatch.disabled():
            yield
    finally:
        dropin.functional_call = original
