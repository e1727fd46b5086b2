r"""CTC by hand: the forward–backward recursion in log space, the loss and its gradient.

The glass-box twin of :class:`rnnkit.layers.ctc.CTCLoss` (Graves et al. 2006; Graves 2012,
ch. 7), for one sequence. The frames give ``log y_t(k)`` (T, C), softmax-normalised, with the
blank at index ``blank``. The labels ``l`` (U,) become the extended sequence
``l' = ∅ l_1 ∅ l_2 … ∅ l_U ∅`` (S = 2U + 1 symbols). Every alignment that collapses to ``l``
is a path through ``l'`` that moves one step (or stays, or skips a blank between two
*different* labels) per frame, starting in ``l'_1`` or ``l'_2`` and ending in ``l'_S`` or
``l'_{S-1}``.

Forward variables, ``α_t(s)``: the probability of the first ``t`` frames' paths ending in
``l'_s``::

    α_1(1) = y_1(∅),   α_1(2) = y_1(l_1),   α_1(s) = 0 for s > 2
    α_t(s) = (α_{t-1}(s) + α_{t-1}(s-1) [+ α_{t-1}(s-2) if l'_s ∉ {∅, l'_{s-2}}]) · y_t(l'_s)

Backward variables, ``β_t(s)``: the probability of the last frames' paths from ``l'_s`` at
frame ``t`` to the end (``y_t`` included, as Graves writes them)::

    β_T(S) = y_T(∅),   β_T(S-1) = y_T(l_U),   β_T(s) = 0 otherwise
    β_t(s) = (β_{t+1}(s) + β_{t+1}(s+1) [+ β_{t+1}(s+2) if l'_s ∉ {∅, l'_{s+2}}]) · y_t(l'_s)

Then ``p(l | x) = α_T(S) + α_T(S-1)``, and for every frame ``t``,
``p(l | x) = Σ_s α_t(s) β_t(s) / y_t(l'_s)``. The loss is ``L = -ln p(l | x)`` and its gradient
with respect to the logits ``u_t(k)`` (``y_t = softmax(u_t)``) is Graves' eq. 7.30::

    ∂L/∂u_t(k) = y_t(k) - 1 / (p(l | x) y_t(k)) · Σ_{s : l'_s = k} α_t(s) β_t(s)

Everything runs in log space (products become sums, sums ``logsumexp``): over hundreds of
frames the probabilities underflow float64.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
NEG_INF = -np.inf

__all__ = ["backward_variables", "ctc_loss", "extended_labels", "forward_variables"]


def extended_labels(labels: list[int], blank: int) -> list[int]:
    """``l' = ∅ l_1 ∅ l_2 … ∅ l_U ∅`` (2U + 1 symbols)."""
    extended = [blank]
    for label in labels:
        extended += [label, blank]
    return extended


def _can_skip(ext: list[int], s: int, blank: int) -> bool:
    """A path may jump from ``l'_{s-2}`` to ``l'_s``: over a blank, between different labels."""
    return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]


def forward_variables(log_y: Array, labels: list[int], blank: int = 0) -> Array:
    """``ln α_t(s)``, (T, S), from the log-probs ``ln y_t(k)`` (T, C)."""
    ext = extended_labels(labels, blank)
    T, S = len(log_y), len(ext)
    log_alpha = np.full((T, S), NEG_INF)
    log_alpha[0, 0] = log_y[0, blank]  # start in the first blank ...
    if S > 1:
        log_alpha[0, 1] = log_y[0, ext[1]]  # ... or in the first label
    for t in range(1, T):
        for s in range(S):
            came_from = [log_alpha[t - 1, s]]  # stay on l'_s
            if s >= 1:
                came_from.append(log_alpha[t - 1, s - 1])  # step from l'_{s-1}
            if _can_skip(ext, s, blank):
                came_from.append(log_alpha[t - 1, s - 2])  # skip the blank between
            log_alpha[t, s] = np.logaddexp.reduce(came_from) + log_y[t, ext[s]]  # times y_t(l'_s)
    return log_alpha


def backward_variables(log_y: Array, labels: list[int], blank: int = 0) -> Array:
    """``ln β_t(s)``, (T, S): the forward recursion run from the end, ``y_t`` included."""
    ext = extended_labels(labels, blank)
    T, S = len(log_y), len(ext)
    log_beta = np.full((T, S), NEG_INF)
    log_beta[T - 1, S - 1] = log_y[T - 1, blank]  # end in the last blank ...
    if S > 1:
        log_beta[T - 1, S - 2] = log_y[T - 1, ext[S - 2]]  # ... or in the last label
    for t in range(T - 2, -1, -1):
        for s in range(S):
            goes_to = [log_beta[t + 1, s]]  # stay on l'_s
            if s + 1 < S:
                goes_to.append(log_beta[t + 1, s + 1])  # step to l'_{s+1}
            if s + 2 < S and _can_skip(ext, s + 2, blank):
                goes_to.append(log_beta[t + 1, s + 2])  # skip the blank after
            log_beta[t, s] = np.logaddexp.reduce(goes_to) + log_y[t, ext[s]]
    return log_beta


def ctc_loss(logits: Array, labels: list[int], blank: int = 0) -> tuple[float, Array]:
    """``L = -ln p(l | x)`` for unnormalised ``logits`` (T, C), and ``∂L/∂logits`` (T, C).

    An impossible sequence (too few frames, or no frames) has ``L = inf``; its gradient is
    returned as zeros, as ``zero_infinity`` does.
    """
    log_y = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)  # ln softmax(u_t)
    T, C = log_y.shape
    ext = extended_labels(labels, blank)
    if T == 0:
        return (0.0 if not labels else np.inf), np.zeros_like(logits)
    log_alpha = forward_variables(log_y, labels, blank)
    log_beta = backward_variables(log_y, labels, blank)
    log_p = np.logaddexp.reduce(log_alpha[T - 1, -2:])  # p = α_T(S) + α_T(S-1)
    if log_p == NEG_INF:
        return np.inf, np.zeros_like(logits)
    log_ab = log_alpha + log_beta  # ln α_t(s) β_t(s), (T, S)
    log_occupancy = np.full((T, C), NEG_INF)  # ln Σ_{s: l'_s = k} α_t(s) β_t(s)
    for s, k in enumerate(ext):
        log_occupancy[:, k] = np.logaddexp(log_occupancy[:, k], log_ab[:, s])
    # ∂L/∂u_t(k) = y_t(k) - exp(ln Σ αβ - ln p - ln y_t(k))   (Graves eq. 7.30)
    grad = np.exp(log_y) - np.exp(log_occupancy - log_p - log_y)
    return float(-log_p), grad
