"""The Neural Turing Machine: an LSTM controller with one read and one write head on a memory."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.ntm_addressing import EPS, MemoryStep
from rnnkit.cells.state import LSTMState
from rnnkit.checks import check_bool, check_choice, check_int, check_size

MEMORY_INIT = 1e-6  # every entry of M_0 (Collier & Beel 2018: constant init learns fastest)


class NTMState(NamedTuple):
    """State of an :class:`NTMCell`; every field has the batch in dim 0."""

    h: Tensor  # (B, H) the controller's output h_t, the cell's output
    c: Tensor  # (B, H) the controller's memory cell
    memory: Tensor  # M_t (B, N, M)
    read_weights: Tensor  # w^r_t (B, N)
    write_weights: Tensor  # w^w_t (B, N)
    read: Tensor  # r_t (B, M), fed to the controller at t + 1


class Head(NamedTuple):
    """One head's addressing parameters (Graves et al. 2014, §3.3), already activated."""

    k: Tensor  # key (B, M)
    beta: Tensor  # key strength β >= 0 (B, 1)
    g: Tensor  # interpolation gate g in (0, 1) (B, 1)
    s: Tensor  # shift weighting over offsets -S..S (B, 2S + 1)
    gamma: Tensor  # sharpening γ >= 1 (B, 1)


def head_size(memory_width: int, shift_range: int) -> int:
    """Raw outputs of one addressing head: M (k) + 1 (β) + 1 (g) + 2S + 1 (s) + 1 (γ)."""
    return memory_width + 2 * shift_range + 4


def split_head(raw: Tensor, memory_width: int) -> Head:
    """(B, M + 2S + 4) raw outputs, columns (k | β̂ | ĝ | ŝ | γ̂) -> the activated :class:`Head`."""
    M = memory_width
    k, beta, g, s, gamma = raw.split([M, 1, 1, raw.shape[-1] - M - 3, 1], dim=-1)
    return Head(k, F.softplus(beta), torch.sigmoid(g), torch.softmax(s, -1), 1 + F.softplus(gamma))


def content_weights(memory: Tensor, k: Tensor, beta: Tensor) -> Tensor:
    """w^c(i) = softmax_i(β K(k, M(i))), cosine K: (B, N, M), (B, M), (B, 1) -> (B, N)."""
    dot = torch.einsum("bnm,bm->bn", memory, k)  # (B, N)
    norms = memory.norm(dim=-1) * k.norm(dim=-1, keepdim=True)  # (B, N)
    return torch.softmax(beta * dot / (norms + EPS), dim=-1)


def interpolate(w_c: Tensor, w_prev: Tensor, g: Tensor) -> Tensor:
    """w^g = g w^c + (1 - g) w_{t-1}: (B, N), (B, N), (B, 1) -> (B, N)."""
    return g * w_c + (1 - g) * w_prev


def circular_shift(w_g: Tensor, s: Tensor) -> Tensor:
    """w̃(i) = Σ_j w^g(j) s(i - j mod N), s over offsets -S..S: (B, N), (B, 2S + 1) -> (B, N).

    Column ``j`` of ``s`` weights the offset ``j - S``: a head on slot i moves to slot i + 1
    with weight ``s[:, S + 1]``.
    """
    S = (s.shape[-1] - 1) // 2
    rolled = torch.stack([w_g.roll(j - S, dims=-1) for j in range(2 * S + 1)], -1)  # (B, N, 2S+1)
    return torch.einsum("bnj,bj->bn", rolled, s)


def sharpen(w_tilde: Tensor, gamma: Tensor) -> Tensor:
    """w(i) = w̃(i)^γ / Σ_j w̃(j)^γ: (B, N), (B, 1) -> (B, N).

    Divides by max_j w̃(j) first (the ratio is unchanged), so the sum is >= 1 and a large γ
    cannot underflow it to zero.
    """
    scaled = w_tilde / w_tilde.amax(dim=-1, keepdim=True)
    powered = scaled.pow(gamma)  # torch's gradient w.r.t. γ is 0 where w̃(i) = 0
    return powered / powered.sum(dim=-1, keepdim=True)


def address(memory: Tensor, w_prev: Tensor, head: Head) -> Tensor:
    """Content, then interpolation, circular shift and sharpening: the new weights (B, N)."""
    w_c = content_weights(memory, head.k, head.beta)
    w_g = interpolate(w_c, w_prev, head.g)
    return sharpen(circular_shift(w_g, head.s), head.gamma)


def write_memory(memory: Tensor, w: Tensor, e: Tensor, a: Tensor) -> Tensor:
    """M_t(i) = M_{t-1}(i) ⊙ (1 - w(i) e) + w(i) a: (B, N, M), (B, N), (B, M), (B, M)."""
    w = w.unsqueeze(-1)  # (B, N, 1)
    return memory * (1 - w * e.unsqueeze(1)) + w * a.unsqueeze(1)


def read_memory(memory: Tensor, w: Tensor) -> Tensor:
    """r = Σ_i w(i) M(i): (B, N, M), (B, N) -> (B, M)."""
    return torch.einsum("bn,bnm->bm", w, memory)


class NTMCell(RecurrentCell):
    r"""A Neural Turing Machine (Graves, Wayne & Danihelka 2014): one read and one write head.

    .. math::
        h_t, c_t = \mathrm{LSTM}([x_t; r_{t-1}], (h_{t-1}, c_{t-1}))
        (k, \hat\beta, \hat g, \hat s, \hat\gamma, e, a)^w = W_w h_t + b_w \qquad
        (k, \hat\beta, \hat g, \hat s, \hat\gamma)^r = W_r h_t + b_r
        \beta = \mathrm{softplus}(\hat\beta), \ g = \sigma(\hat g), \
        s = \mathrm{softmax}(\hat s), \ \gamma = 1 + \mathrm{softplus}(\hat\gamma), \
        e = \sigma(\hat e)
        w^c(i) = \mathrm{softmax}_i(\beta K(k, M(i))), \quad
        K(u, v) = u \cdot v / (\|u\| \|v\| + \epsilon)
        w^g = g\, w^c + (1 - g)\, w_{t-1}
        \tilde w(i) = \textstyle\sum_j w^g(j)\, s(i - j \bmod N)
        w_t(i) = \tilde w(i)^\gamma / \textstyle\sum_j \tilde w(j)^\gamma
        M_t(i) = M_{t-1}(i) \odot (1 - w^w_t(i)\, e) + w^w_t(i)\, a \qquad
        (w^w_t \text{ addressed on } M_{t-1})
        r_t = \textstyle\sum_i w^r_t(i)\, M_t(i) \qquad (w^r_t \text{ addressed on } M_t)

    Graves et al., "Neural Turing Machines" (arXiv:1410.5401), §3.1-3.3: each step first
    writes, then reads the updated memory. **The output is the controller's** :math:`h_t`
    (``hidden_size`` H = controller units); the read :math:`r_t` enters the controller at
    the next step, as in the paper's Figure 1, so the state's first field is the output
    (zoneout and state dropout act on the controller's h and c). The key ``k`` and the add
    vector ``a`` are linear (no squashing); :math:`\epsilon` = ``EPS`` = 1e-8.

    ==================  ===================  ==============================================
    symbol              shape                code
    ==================  ===================  ==============================================
    x_t                 (B, D)               ``gx`` (``project_input`` is the identity)
    r_{t-1}, r_t        (B, M)               ``state.read``, ``r``
    h_t, c_t            (B, H)               ``h``, ``c``: ``controller``, an ``LSTMCell``
                                             (D + M, H); h_t is the output
    W_w, b_w            (3M + 2S + 4, H)     ``write_head``: columns (k | β̂ | ĝ | ŝ | γ̂
                                             | ê | a)
    W_r, b_r            (M + 2S + 4, H)      ``read_head``: columns (k | β̂ | ĝ | ŝ | γ̂)
    M_t                 (B, N, M)            ``memory``
    w^w_t, w^r_t        (B, N)               ``w_w``, ``w_r``
    s                   (B, 2S + 1)          column j weights the offset j - S
    ==================  ===================  ==============================================

    Initial state (``initial_state``): h = c = 0, every memory entry ``MEMORY_INIT`` = 1e-6
    (a constant, so the first content weights are uniform; Collier & Beel 2018 found a
    constant init learns fastest), both weightings one-hot on slot 0 (so shifts alone can
    walk the tape from a known start), r_0 = 0.

    Init: the controller is an ``LSTMCell`` (forget bias 1); the heads are ``nn.Linear``'s.
    Recurrent dropout (``candidate_dropout``) is the controller's.

    Args:
        input_size: D, features of x_t.
        hidden_size: H, controller units (and the output size).
        memory_slots: N, memory rows.
        memory_width: M, features per row.
        shift_range: S, the heads shift by -S..S slots (2S + 1 <= N).
        controller: the controller kind; only ``"lstm"``.
        fused: run the heads, write and read as one autograd Function with a hand-written
            backward (:class:`~rnnkit.cells.ntm_addressing.MemoryStep`; 0.99-1.16x the
            plain path per update on the copy task, ``benchmarks/ntm_step.py``, on a quiet
            2-core CPU: the cost is per-op dispatch either way); False: the plain autograd
            ops above (``plain_memory_step``). Same values and gradients (tests tie them).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        memory_slots: int = 128,
        memory_width: int = 20,
        shift_range: int = 1,
        controller: str = "lstm",
        fused: bool = True,
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.memory_slots = check_size("memory_slots", memory_slots)
        self.memory_width = check_size("memory_width", memory_width)
        self.shift_range = _check_shift_range(shift_range, memory_slots)
        self.controller_kind = check_choice("controller", controller, ("lstm",))
        self.fused = check_bool("fused", fused)
        M, H, P = memory_width, hidden_size, head_size(memory_width, shift_range)
        self.controller = LSTMCell(input_size + M, H)
        self.read_head = nn.Linear(H, P)  # W_r, b_r
        self.write_head = nn.Linear(H, P + 2 * M)  # W_w, b_w (+ e, a)

    @property
    def candidate_dropout(self) -> nn.Module | None:  # type: ignore[override]
        """The controller's recurrent dropout (the candidate lives there)."""
        return self.controller.candidate_dropout if "controller" in self._modules else None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "candidate_dropout":  # the base class's None comes before the controller
            if "controller" in self._modules:
                self.controller.candidate_dropout = value
            return
        super().__setattr__(name, value)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> NTMState:
        """h = c = 0, M_0 = 1e-6 everywhere, w^r_0 = w^w_0 = one-hot on slot 0, r_0 = 0."""
        B, N, M, H = batch_size, self.memory_slots, self.memory_width, self.hidden_size
        h = torch.zeros(B, H, device=device, dtype=dtype)
        memory = torch.full((B, N, M), MEMORY_INIT, device=device, dtype=dtype)
        w = torch.zeros(B, N, device=device, dtype=dtype)
        w[:, 0] = 1.0
        read = torch.zeros(B, M, device=device, dtype=dtype)
        return NTMState(h, torch.zeros_like(h), memory, w, w.clone(), read)

    def step(self, gx: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        x = torch.cat([gx, state.read], dim=-1)  # [x_t; r_{t-1}] (B, D + M)
        h, (_, c) = self.controller(x, LSTMState(state.h, state.c))  # (B, H) each
        raw_w, raw_r = self.write_head(h), self.read_head(h)  # (B, 3M + 2S + 4), (B, M + 2S + 4)
        if self.fused:
            memory, w_r, w_w, r = MemoryStep.apply(
                state.memory, state.read_weights, state.write_weights, raw_w, raw_r
            )
        else:
            memory, w_r, w_w, r = self.plain_memory_step(state, raw_w, raw_r)
        return h, NTMState(h, c, memory, w_r, w_w, r)

    def plain_memory_step(
        self, state: NTMState, raw_w: Tensor, raw_r: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The heads, write and read in plain autograd ops: (M_t, w^r_t, w^w_t, r_t)."""
        M = self.memory_width
        e, a = torch.sigmoid(raw_w[:, -2 * M : -M]), raw_w[:, -M:]  # (B, M) each
        w_w = address(state.memory, state.write_weights, split_head(raw_w[:, : -2 * M], M))
        memory = write_memory(state.memory, w_w, e, a)  # M_t (B, N, M)
        w_r = address(memory, state.read_weights, split_head(raw_r, M))
        return memory, w_r, w_w, read_memory(memory, w_r)

    def num_parameters(self) -> int:
        """4H(D + M + H + 2) + (H + 1)(M + 2S + 4) + (H + 1)(3M + 2S + 4)."""
        H, M = self.hidden_size, self.memory_width
        P = head_size(M, self.shift_range)
        return self.controller.num_parameters() + (H + 1) * P + (H + 1) * (P + 2 * M)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, memory_slots={self.memory_slots}, "
            f"memory_width={self.memory_width}, shift_range={self.shift_range}"
        )


def _check_shift_range(shift_range: int, memory_slots: int) -> int:
    """S >= 0 with 2S + 1 <= N, so the 2S + 1 offsets are distinct slots."""
    check_int("shift_range", shift_range, 0)
    most = (memory_slots - 1) // 2
    if shift_range > most:
        raise ValueError(
            f"shift_range must be at most (memory_slots - 1) // 2 = {most}, got {shift_range}"
        )
    return shift_range
