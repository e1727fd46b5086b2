"""The compiled step kernels (``_kernels.cpp``), and when the fused loops may use them.

The extension is built by ``pip install`` (setup.py; it needs only a C++ compiler and the
Python headers, not torch's). It takes raw data pointers, so it runs only on CPU tensors
that are contiguous and float32 or float64; everything else, and an install where the
build failed, takes the torch-op loops, which compute the same math.
"""

from __future__ import annotations

import torch
from torch import Tensor

try:
    from rnnkit.layers.fused import _kernels as module
except ImportError:  # built without a compiler: the torch-op loops run instead
    module = None

#: Global switch, e.g. for A/B benchmarks and tests: ``kernels.ENABLED = False``.
ENABLED = True

_DTYPES = (torch.float32, torch.float64)


def available() -> bool:
    """Whether the compiled kernels were built and are switched on."""
    return ENABLED and module is not None


def usable(like: Tensor, *others: Tensor | float | None) -> bool:
    """Whether the kernels can take ``like`` and the tensors among ``others``: all on the
    CPU, contiguous, and of ``like``'s dtype (float32 or float64)."""
    if not available() or like.device.type != "cpu" or like.dtype not in _DTYPES:
        return False
    return all(
        not isinstance(t, Tensor)
        or (t.device.type == "cpu" and t.dtype == like.dtype and t.is_contiguous())
        for t in (like, *others)
    )


def ptr(t: Tensor | None) -> int | None:
    """The data pointer the kernels read (None: absent)."""
    return None if t is None else t.data_ptr()


def zone(z: Tensor | float | None, H: int) -> tuple[int | None, int, float]:
    """A zone weight as the kernels take it: (T, B, H or 1) pointer, its columns, constant."""
    if isinstance(z, Tensor):
        return z.data_ptr(), z.shape[-1] if z.shape[-1] == H else 1, 0.0
    return (None, -1, float(z)) if z is not None else (None, 0, 0.0)


def is_double(t: Tensor) -> int:
    return int(t.dtype == torch.float64)
