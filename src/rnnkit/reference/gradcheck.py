"""Gradient checking: central finite differences over every entry of every array.

A hand-written backward pass is only as good as its check. For a scalar loss ``f`` and
each entry ``θ`` of each array, the central difference

    ∂f/∂θ ≈ (f(θ + ε) - f(θ - ε)) / (2ε)

has two errors: the Taylor remainder, about ε² |f'''| / 6, and float64 rounding in the two
losses, about δ |f| / ε with δ ≈ 1e-16. Their sum is smallest near ε ≈ (3δ |f| /
|f'''|)^(1/3), about 1e-5 for a loss of order one; ε = 1e-6 (the default) leaves
1e-10 to 1e-9 absolute error, ε = 1e-5 about ten times less. Either tells a correct
backward pass (relative error under 1e-5 on every entry) from a wrong one (1e-2 or more).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Arrays = dict[str, NDArray[np.float64]]

__all__ = ["max_relative_error", "numerical_gradient"]


def numerical_gradient(f: Callable[[Arrays], float], params: Arrays, eps: float = 1e-6) -> Arrays:
    """Central differences of ``f(params)`` with respect to every entry of every array.

    Each entry is nudged in place by ``±eps`` and restored, so ``f`` must read ``params``
    afresh on every call (put inputs and initial states in ``params`` too to check them).

    Args:
        f: the scalar loss, a function of the arrays.
        params: name -> float64 array of any shape.
        eps: the step ε.

    Returns:
        name -> array of the same shape as ``params[name]``: the numerical ∂f/∂params[name].
    """
    grads = {}
    for name, array in params.items():
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + eps
            f_plus = f(params)
            array[index] = original - eps
            f_minus = f(params)
            array[index] = original  # restore
            grad[index] = (f_plus - f_minus) / (2 * eps)
        grads[name] = grad
    return grads


def max_relative_error(
    a: NDArray[np.float64], b: NDArray[np.float64], floor: float = 1e-8
) -> float:
    """max over entries of ``|a - b| / max(|a|, |b|, floor)``; 0.0 for empty arrays.

    The ``floor`` keeps entries where both gradients are (numerically) zero from dividing
    rounding noise by nearly nothing: below it the error is absolute.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    return float(np.max(np.abs(a - b) / scale))
