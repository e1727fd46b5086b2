"""The compiled step kernels (``_kernels.cpp``), and when the fused loops may use them.

The extension is built by ``pip install`` (setup.py; it needs only a C++ compiler and the
Python headers, not torch's). It takes raw data pointers, so it runs only on CPU tensors
that are contiguous and float32 or float64; everything else, and an install where the
build failed, takes the torch-op loops, which compute the same math.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import Tensor

try:  # after torch: the extension's OpenMP runtime is then the one torch has loaded
    from rnnkit.layers.fused import _kernels as module
except ImportError:  # built without a compiler: the torch-op loops run instead
    module = None

#: Global switch, e.g. for A/B benchmarks and tests: ``kernels.ENABLED = False``.
ENABLED = True

#: Opt-in whole-sequence loops on MKL's packed GEMM (``kernels.SEQUENCE = True``): float32
#: LSTM and GRU (reset after) loops then run every step in one C++ call. Off by default: on
#: the AVX-512 EPYC of docs/benchmarks.md MKL's packed GEMM measured 15-20 % slower than
#: oneDNN's packed per-step GEMM at C2 (as fast at C1), more than the Python per step saves.
SEQUENCE = False

_ROW_MAJOR, _NO_TRANS, _TRANS, _B_MATRIX = 101, 111, 112, 162


def _find_mkl() -> tuple[ctypes._CFuncPtr, ctypes._CFuncPtr, int] | None:
    """MKL's packed sgemm inside the running torch (libtorch_cpu exports it where torch was
    built with MKL): (pack_get_size, pack, address of compute), or None."""
    if module is None:
        return None
    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        size, pack, compute = (
            lib.cblas_sgemm_pack_get_size,
            lib.cblas_sgemm_pack,
            lib.cblas_sgemm_compute,
        )
    except (OSError, AttributeError):
        return None
    size.restype, size.argtypes = ctypes.c_size_t, [ctypes.c_int] * 4
    pack.restype = None
    pack.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    pack.argtypes += [ctypes.c_void_p]
    return size, pack, ctypes.cast(compute, ctypes.c_void_p).value


_MKL = _find_mkl()


def sequence_gemm(like: Tensor) -> int | None:
    """The address of MKL's packed GEMM when the whole-sequence loops can run ``like``'s
    problem (float32 on the CPU, kernels on, MKL found), else None."""
    if not (SEQUENCE and _MKL is not None and available()):
        return None
    return _MKL[2] if like.dtype == torch.float32 and like.device.type == "cpu" else None


def pack(weight: Tensor, rows: int, *, transposed: bool) -> Tensor:
    """``weight`` (N, K) float32 in MKL's packed layout, as the right operand of a product
    with ``rows`` rows: ``x (rows, K) @ weightᵀ`` if ``transposed``, else ``x (rows, N) @ weight``.
    """
    assert _MKL is not None
    size, pack_fn, _ = _MKL
    w = weight.detach().contiguous()
    N, K = w.shape
    n, k = (N, K) if transposed else (K, N)
    trans = _TRANS if transposed else _NO_TRANS
    out = torch.empty(size(_B_MATRIX, rows, n, k) // 4 + 1, dtype=torch.float32)
    pack_fn(_ROW_MAJOR, _B_MATRIX, trans, rows, n, k, 1.0, w.data_ptr(), K, out.data_ptr())
    return out


_DTYPES = (torch.float32, torch.float64)

_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14  # Linux
try:
    _madvise = ctypes.CDLL(None, use_errno=True).madvise
    _madvise.argtypes, _madvise.restype = (
        [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int],
        ctypes.c_int,
    )
except (OSError, AttributeError):  # not Linux/glibc: buffers keep the default pages
    _madvise = None


def buffer(like: Tensor, *shape: int) -> Tensor:
    """``like.new_empty(shape)``; a CPU buffer of 16 MiB or more asks Linux for transparent
    huge pages before its first write (``madvise(MADV_HUGEPAGE)``).

    Why: the per-step buffers the forward pass saves and the backward pass fills are fresh
    allocations of up to hundreds of MiB per call, and their first write faults every 4 KiB
    page in (filling 105 MiB measured 51 ms with 4 KiB pages, 12 ms with 2 MiB ones).
    """
    t = like.new_empty(shape)
    nbytes = t.numel() * t.element_size()
    if _madvise is None or t.device.type != "cpu" or nbytes < 8 * _HUGE_PAGE:
        return t
    start = (t.data_ptr() + _HUGE_PAGE - 1) & ~(_HUGE_PAGE - 1)
    end = (t.data_ptr() + nbytes) & ~(_HUGE_PAGE - 1)
    if end > start:
        _madvise(start, end - start, _MADV_HUGEPAGE)  # advice only: failure changes nothing
    return t


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
