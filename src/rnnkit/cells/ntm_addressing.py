"""The NTM's memory block (both heads' addressing, write, read) as one autograd Function.

The plain path in :mod:`rnnkit.cells.ntm` builds ~60 tiny autograd nodes per step; on the
copy task that dispatch overhead, not arithmetic, is the cost. :class:`MemoryStep` runs the
same equations (symbols of :class:`~rnnkit.cells.ntm.NTMCell`'s docstring) with one node and
a hand-written backward that reuses the forward's intermediates. Tests tie it to the plain
path (values and gradients) and to finite differences (``gradcheck`` in float64).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

EPS = 1e-8  # in the cosine similarity's denominator: K(u, v) = u·v / (‖u‖ ‖v‖ + EPS)
SOFTPLUS_THRESHOLD = 20.0  # F.softplus is the identity above it (gradient 1)


class HeadCache(NamedTuple):
    """One head's forward intermediates, kept for its backward."""

    k: Tensor  # key (B, M)
    beta: Tensor  # β (B, 1)
    g: Tensor  # g (B, 1)
    s: Tensor  # shift weighting (B, 2S + 1)
    gamma: Tensor  # γ (B, 1)
    raw: Tensor  # the head's raw outputs (B, M + 2S + 4)
    rn: Tensor  # ‖M(i)‖ (B, N)
    kn: Tensor  # ‖k‖ (B, 1)
    den: Tensor  # ‖M(i)‖ ‖k‖ + EPS (B, N)
    cos: Tensor  # K(k, M(i)) (B, N)
    w_c: Tensor  # content weights (B, N)
    w_prev: Tensor  # w_{t-1} (B, N)
    w_g: Tensor  # interpolated weights (B, N)
    m: Tensor  # max_i w̃(i) (B, 1)
    sc: Tensor  # w̃ / max w̃ (B, N)
    P: Tensor  # Σ_i (w̃(i) / max w̃)^γ (B, 1)
    w: Tensor  # the new weights w_t (B, N)


def _softplus_grad(x: Tensor) -> Tensor:
    """d softplus(x) / dx as torch computes it: sigmoid(x), 1 above the threshold."""
    return torch.where(x > SOFTPLUS_THRESHOLD, torch.ones_like(x), torch.sigmoid(x))


def _wrap(x: Tensor, S: int) -> Tensor:
    """(B, N) -> (B, N + 2S): x circularly padded by S slots on each side."""
    N = x.shape[-1]
    return torch.cat([x[:, N - S :], x, x[:, :S]], dim=-1)


def _windows(x: Tensor, S: int) -> Tensor:
    """(B, N) -> (B, 2S + 1, N): window q is x.roll(S - q) (so offset j - S is window 2S - j)."""
    return _wrap(x, S).unfold(-1, x.shape[-1], 1)


def row_dot(memory: Tensor, k: Tensor) -> Tensor:
    """M(i)·k for every row: (B, N, M), (B, M) -> (B, N) (one bmm on the transposed view)."""
    return torch.bmm(k.unsqueeze(1), memory.transpose(1, 2)).squeeze(1)


def head_forward(memory: Tensor, w_prev: Tensor, raw: Tensor, rn: Tensor) -> HeadCache:
    """Activate raw (k | β̂ | ĝ | ŝ | γ̂), address ``memory`` (rows' norms ``rn``): w_t and cache."""
    M = memory.shape[-1]
    k, beta, g, s, gamma = raw.split([M, 1, 1, raw.shape[-1] - M - 3, 1], dim=-1)
    beta, g, gamma = F.softplus(beta), torch.sigmoid(g), 1 + F.softplus(gamma)  # (B, 1) each
    s = torch.softmax(s, -1)  # (B, 2S + 1)
    kn = k.norm(dim=-1, keepdim=True)  # (B, 1)
    den = rn * kn + EPS  # (B, N)
    cos = row_dot(memory, k) / den  # K(k, M(i)) (B, N)
    w_c = torch.softmax(beta * cos, dim=-1)  # w^c (B, N)
    w_g = g * w_c + (1 - g) * w_prev  # w^g (B, N)
    S = (s.shape[-1] - 1) // 2
    w_tilde = torch.bmm(s.flip(-1).unsqueeze(1), _windows(w_g, S)).squeeze(1)  # w̃ (B, N)
    m = w_tilde.amax(dim=-1, keepdim=True)  # (B, 1): divided out so a large γ cannot underflow
    sc = w_tilde / m
    p = sc.pow(gamma)
    P = p.sum(dim=-1, keepdim=True)
    w = p / P  # w_t (B, N)
    return HeadCache(k, beta, g, s, gamma, raw, rn, kn, den, cos, w_c, w_prev, w_g, m, sc, P, w)


def head_backward(
    h: HeadCache, memory: Tensor, dw: Tensor, d_memory: Tensor
) -> tuple[Tensor, Tensor]:
    """Back through one head given dL/dw_t: (dL/d raw, dL/dw_{t-1}); adds dL/dM to ``d_memory``."""
    # sharpening: w = p / P, p = sc^γ; the max divided out has no net gradient (w is scale-free)
    dp = (dw - (dw * h.w).sum(-1, keepdim=True)) / h.P  # dL/dp (B, N)
    d_gamma = (dp * h.P * torch.xlogy(h.w, h.sc)).sum(-1, keepdim=True)  # Σ dp p log sc
    d_tilde = dp * h.gamma * h.sc.pow(h.gamma - 1) / h.m  # dL/dw̃ (B, N)
    # circular shift: w̃(i) = Σ_j s_j w^g(i - (j - S))
    S = (h.s.shape[-1] - 1) // 2
    d_s = torch.bmm(_windows(h.w_g, S), d_tilde.unsqueeze(-1)).squeeze(-1).flip(-1)  # (B, 2S+1)
    d_g_w = torch.bmm(h.s.unsqueeze(1), _windows(d_tilde, S)).squeeze(1)  # dL/dw^g
    # interpolation: w^g = g w^c + (1 - g) w_{t-1}
    d_c = h.g * d_g_w
    d_prev = (1 - h.g) * d_g_w
    d_g = (d_g_w * (h.w_c - h.w_prev)).sum(-1, keepdim=True)
    # content: w^c = softmax(β cos), cos = M(i)·k / den, den = ‖M(i)‖ ‖k‖ + EPS
    dz = h.w_c * (d_c - (d_c * h.w_c).sum(-1, keepdim=True))  # dL/d(β cos)
    d_beta = (dz * h.cos).sum(-1, keepdim=True)
    d_dot = h.beta * dz / h.den  # dL/d(M(i)·k)
    d_den = -d_dot * h.cos
    d_rn = d_den * h.kn  # dL/d‖M(i)‖
    d_kn = (d_den * h.rn).sum(-1, keepdim=True)
    d_memory.addcmul_(d_dot.unsqueeze(-1), h.k.unsqueeze(1))  # from M(i)·k
    per_row = torch.where(h.rn > 0, d_rn / h.rn, torch.zeros_like(h.rn))
    d_memory.addcmul_(memory, per_row.unsqueeze(-1))  # from ‖M(i)‖
    d_k = torch.bmm(d_dot.unsqueeze(1), memory).squeeze(1)
    d_k = d_k + torch.where(h.kn > 0, d_kn / h.kn, torch.zeros_like(h.kn)) * h.k
    d_raw = _activation_backward(h, d_k, d_beta, d_g, d_s, d_gamma)
    return d_raw, d_prev


def _activation_backward(
    h: HeadCache, d_k: Tensor, d_beta: Tensor, d_g: Tensor, d_s: Tensor, d_gamma: Tensor
) -> Tensor:
    """Gradients of k, β, g, s, γ -> of the raw (k | β̂ | ĝ | ŝ | γ̂) columns."""
    M = d_k.shape[-1]
    d_s_hat = h.s * (d_s - (d_s * h.s).sum(-1, keepdim=True))
    return torch.cat(
        [
            d_k,
            d_beta * _softplus_grad(h.raw[:, M : M + 1]),
            d_g * h.g * (1 - h.g),
            d_s_hat,
            d_gamma * _softplus_grad(h.raw[:, -1:]),
        ],
        dim=-1,
    )


def row_norms(memory: Tensor) -> Tensor:
    """‖M(i)‖: (B, N, M) -> (B, N)."""
    return memory.norm(dim=-1)


class MemoryStep(torch.autograd.Function):
    """(M_{t-1}, w^r_{t-1}, w^w_{t-1}, raw_w, raw_r) -> (M_t, w^r_t, w^w_t, r_t), one node."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, memory: Tensor, w_r_prev: Tensor, w_w_prev: Tensor, raw_w: Tensor,
        raw_r: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
        M = memory.shape[-1]
        write = head_forward(memory, w_w_prev, raw_w[:, : -2 * M], row_norms(memory))
        e, a = torch.sigmoid(raw_w[:, -2 * M : -M]), raw_w[:, -M:]  # (B, M) each
        change = a.unsqueeze(1) - memory * e.unsqueeze(1)  # a - M_{t-1}(i) ⊙ e (B, N, M)
        new = torch.addcmul(memory, write.w.unsqueeze(-1), change)  # M_t (B, N, M)
        read = head_forward(new, w_r_prev, raw_r, row_norms(new))
        r = torch.bmm(read.w.unsqueeze(1), new).squeeze(1)  # r_t (B, M)
        ctx.save_for_backward(memory, new, change, e)
        ctx.heads = (write, read)  # type: ignore[attr-defined]
        # the weights go out as copies: an output kept on ctx (here inside the heads' caches)
        # would make a cycle output -> node -> ctx -> output that leaks every step's graph
        return new, read.w.clone(), write.w.clone(), r

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, d_new: Tensor, d_w_r: Tensor, d_w_w: Tensor, d_r: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        memory, new, change, e = ctx.saved_tensors
        write, read = ctx.heads
        # read: r = Σ_i w^r(i) M_t(i), addressed on M_t
        d_new = torch.addcmul(d_new, read.w.unsqueeze(-1), d_r.unsqueeze(1))
        d_w_r = d_w_r + row_dot(new, d_r)
        d_raw_r, d_w_r_prev = head_backward(read, new, d_w_r, d_new)
        # write: M_t(i) = M_{t-1}(i) + w^w(i) (a - M_{t-1}(i) ⊙ e), addressed on M_{t-1}
        w = write.w.unsqueeze(1)  # (B, 1, N)
        d_w_w = d_w_w + (d_new * change).sum(-1)
        d_a = torch.bmm(w, d_new).squeeze(1)
        d_e = -torch.bmm(w, d_new * memory).squeeze(1) * e * (1 - e)  # through e = σ(ê)
        d_memory = torch.addcmul(d_new, d_new * write.w.unsqueeze(-1), e.unsqueeze(1), value=-1)
        d_raw_w, d_w_w_prev = head_backward(write, memory, d_w_w, d_memory)
        d_raw_w = torch.cat([d_raw_w, d_e, d_a], dim=-1)
        return d_memory, d_w_r_prev, d_w_w_prev, d_raw_w, d_raw_r
