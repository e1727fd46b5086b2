"""NTMCell: addressing against slow loops over slots, a hand-written step, gradcheck, layers."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit.cells import NTMCell, NTMState, reorder_state
from rnnkit.cells.ntm import (
    EPS,
    MEMORY_INIT,
    circular_shift,
    content_weights,
    interpolate,
    read_memory,
    sharpen,
    write_memory,
)
from rnnkit.cells.ntm_addressing import MemoryStep
from rnnkit.layers import Recurrent

B, D, H, N, M, S = 3, 2, 4, 5, 3, 1
DT = torch.float64


# --- slow references, one slot at a time, straight from the docstring (NumPy, float64) ---


def slow_content(memory: np.ndarray, k: np.ndarray, beta: float) -> np.ndarray:
    """w^c(i) = exp(β K(k, M(i))) / Σ_j exp(β K(k, M(j))) for one sequence: (N, M), (M,)."""
    scores = []
    for row in memory:
        cosine = sum(u * v for u, v in zip(k, row, strict=True)) / (
            math.sqrt(sum(u * u for u in k)) * math.sqrt(sum(v * v for v in row)) + EPS
        )
        scores.append(math.exp(beta * cosine))
    return np.array(scores) / sum(scores)


def slow_shift(w_g: np.ndarray, s: np.ndarray) -> np.ndarray:
    """w̃(i) = Σ_j w^g(j) s(i - j mod N), s given over offsets -S..S (zero elsewhere)."""
    n, shifts = len(w_g), (len(s) - 1) // 2
    out = np.zeros(n)
    for i in range(n):
        for j in range(n):
            offset = (i - j) % n
            if offset <= shifts:
                out[i] += w_g[j] * s[shifts + offset]
            elif offset >= n - shifts:
                out[i] += w_g[j] * s[shifts + offset - n]
    return out


def slow_sharpen(w_tilde: np.ndarray, gamma: float) -> np.ndarray:
    powered = [w**gamma for w in w_tilde]
    return np.array(powered) / sum(powered)


def slow_write(memory: np.ndarray, w: np.ndarray, e: np.ndarray, a: np.ndarray) -> np.ndarray:
    out = memory.copy()
    for i in range(len(w)):
        for m in range(len(e)):
            out[i, m] = memory[i, m] * (1 - w[i] * e[m]) + w[i] * a[m]
    return out


def slow_read(memory: np.ndarray, w: np.ndarray) -> np.ndarray:
    return sum(w[i] * memory[i] for i in range(len(w)))


def slow_address(memory, w_prev, k, beta, g, s, gamma):
    w_c = slow_content(memory, k, beta)
    w_g = g * w_c + (1 - g) * w_prev
    return slow_sharpen(slow_shift(w_g, s), gamma)


def random_distribution(*shape: int) -> torch.Tensor:
    return torch.softmax(torch.randn(*shape, dtype=DT), dim=-1)


# --- the addressing functions ---


def test_content_weights_match_slow_loop():
    torch.manual_seed(0)
    memory, k = torch.randn(B, N, M, dtype=DT), torch.randn(B, M, dtype=DT)
    beta = 3 * torch.rand(B, 1, dtype=DT)
    got = content_weights(memory, k, beta)
    for b in range(B):
        want = slow_content(memory[b].numpy(), k[b].numpy(), float(beta[b]))
        assert_close(got[b].numpy(), want)


def test_interpolation_matches_formula():
    torch.manual_seed(1)
    w_c, w_prev = random_distribution(B, N), random_distribution(B, N)
    g = torch.rand(B, 1, dtype=DT)
    got = interpolate(w_c, w_prev, g)
    for b in range(B):
        for i in range(N):
            want = float(g[b]) * float(w_c[b, i]) + (1 - float(g[b])) * float(w_prev[b, i])
            assert math.isclose(float(got[b, i]), want, rel_tol=1e-12)


@pytest.mark.parametrize("shifts", [0, 1, 2])
def test_circular_shift_matches_slow_loop(shifts):
    torch.manual_seed(2)
    w_g, s = random_distribution(B, N), random_distribution(B, 2 * shifts + 1)
    got = circular_shift(w_g, s)
    for b in range(B):
        assert_close(got[b].numpy(), slow_shift(w_g[b].numpy(), s[b].numpy()))


def test_shift_by_plus_one_moves_the_head_forward_and_wraps():
    w = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]], dtype=DT)  # on the last slot
    s = torch.tensor([[0.0, 0.0, 1.0]], dtype=DT)  # all weight on offset +1
    assert_close(circular_shift(w, s), torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]], dtype=DT))


@pytest.mark.parametrize("gamma", [1.0, 2.7, 60.0])
def test_sharpen_matches_slow_loop(gamma):
    torch.manual_seed(3)
    w_tilde = random_distribution(B, N)
    got = sharpen(w_tilde, torch.full((B, 1), gamma, dtype=DT))
    for b in range(B):
        assert_close(got[b].numpy(), slow_sharpen(w_tilde[b].numpy(), gamma))


def test_sharpen_survives_a_large_gamma_in_float32():
    w_tilde = torch.full((1, 128), 1 / 128)  # (1/128)^40 underflows float32
    got = sharpen(w_tilde, torch.tensor([[40.0]]))
    assert_close(got, w_tilde)


def test_write_then_read_match_slow_loops():
    torch.manual_seed(4)
    memory, w = torch.randn(B, N, M, dtype=DT), random_distribution(B, N)
    e, a = torch.rand(B, M, dtype=DT), torch.randn(B, M, dtype=DT)
    written = write_memory(memory, w, e, a)
    read = read_memory(written, w)
    for b in range(B):
        want = slow_write(memory[b].numpy(), w[b].numpy(), e[b].numpy(), a[b].numpy())
        assert_close(written[b].numpy(), want)
        assert_close(read[b].numpy(), slow_read(want, w[b].numpy()))


# --- one full step ---


def make_cell(**options) -> NTMCell:
    options = {"memory_slots": N, "memory_width": M, "shift_range": S, **options}
    return NTMCell(D, H, **options).double()


def random_state(batch: int = B, cell: NTMCell | None = None) -> NTMState:
    n, m = (N, M) if cell is None else (cell.memory_slots, cell.memory_width)
    h, c = torch.randn(2, batch, H, dtype=DT)
    memory = torch.randn(batch, n, m, dtype=DT)
    w_r, w_w = random_distribution(batch, n), random_distribution(batch, n)
    return NTMState(h, c, memory, w_r, w_w, torch.randn(batch, m, dtype=DT))


def activate(raw: np.ndarray, shifts: int) -> tuple:
    """Raw head outputs (k | β̂ | ĝ | ŝ | γ̂) of one sequence -> k, β, g, s, γ (docstring)."""
    k, beta, g = raw[:M], math.log1p(math.exp(raw[M])), 1 / (1 + math.exp(-raw[M + 1]))
    s_raw = raw[M + 2 : M + 3 + 2 * shifts]
    s = np.exp(s_raw) / np.exp(s_raw).sum()
    gamma = 1 + math.log1p(math.exp(raw[M + 3 + 2 * shifts]))
    return k, beta, g, s, gamma


def reference_step(cell: NTMCell, x: torch.Tensor, state: NTMState):
    """The docstring's step: torch's LSTMCell for the controller, slow loops for the heads."""
    lstm = nn.LSTMCell(D + M, H).double()
    lstm.load_state_dict(cell.controller.state_dict())
    h, c = lstm(torch.cat([x, state.read], -1), (state.h, state.c))
    raw_w = (h @ cell.write_head.weight.T + cell.write_head.bias).detach().numpy()
    raw_r = (h @ cell.read_head.weight.T + cell.read_head.bias).detach().numpy()
    rows = []
    for b in range(x.shape[0]):
        memory = state.memory[b].numpy()
        e, a = 1 / (1 + np.exp(-raw_w[b, -2 * M : -M])), raw_w[b, -M:]
        w_w = slow_address(memory, state.write_weights[b].numpy(), *activate(raw_w[b], S))
        memory = slow_write(memory, w_w, e, a)
        w_r = slow_address(memory, state.read_weights[b].numpy(), *activate(raw_r[b], S))
        rows.append((memory, w_r, w_w, slow_read(memory, w_r)))
    fields = [torch.tensor(np.stack(parts)) for parts in zip(*rows, strict=True)]
    return h, NTMState(h, c, *fields)


def test_step_matches_hand_written_step():
    torch.manual_seed(5)
    cell, state, x = make_cell(), random_state(), torch.randn(B, D, dtype=DT)
    with torch.no_grad():
        h, got = cell(x, state)
        h_want, want = reference_step(cell, x, state)
    assert_close(h, h_want)
    for name, a, b in zip(NTMState._fields, got, want, strict=True):
        assert_close(a, b, msg=name)


def test_step_from_initial_state_matches_hand_written_step():
    torch.manual_seed(6)
    cell, x = make_cell(), torch.randn(B, D, dtype=DT)
    state = cell.initial_state(B, dtype=DT)
    with torch.no_grad():
        got = cell(x, state)[1]
        want = reference_step(cell, x, state)[1]
    for name, a, b in zip(NTMState._fields, got, want, strict=True):
        assert_close(a, b, msg=name)


def test_initial_state_as_documented():
    cell = make_cell()
    h, c, memory, w_r, w_w, read = cell.initial_state(2)
    assert h.shape == c.shape == (2, H) and not h.any() and not c.any()
    assert memory.shape == (2, N, M) and bool((memory == MEMORY_INIT).all())
    one_hot = torch.zeros(2, N)
    one_hot[:, 0] = 1
    assert torch.equal(w_r, one_hot) and torch.equal(w_w, one_hot)
    assert read.shape == (2, M) and not read.any()


def test_gradcheck_three_steps(gradcheck_unrolled):
    torch.manual_seed(7)
    cell = make_cell()
    xs = torch.randn(3, 2, D, dtype=DT, requires_grad=True)
    assert gradcheck_unrolled(cell, xs, random_state(2))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_gradcheck_three_steps_both_paths(gradcheck_unrolled, fused):
    torch.manual_seed(7)
    cell = make_cell(fused=fused, shift_range=2)
    xs = torch.randn(3, 2, D, dtype=DT, requires_grad=True)
    assert gradcheck_unrolled(cell, xs, random_state(2))


# --- the fused memory step (one autograd Function) against the plain autograd ops ---


def memory_step_inputs(batch: int, n: int, m: int, shifts: int) -> list[torch.Tensor]:
    """Random (M_{t-1}, w^r_{t-1}, w^w_{t-1}, raw_w, raw_r), all requiring gradients."""
    P = m + 2 * shifts + 4
    inputs = [
        torch.randn(batch, n, m, dtype=DT),
        random_distribution(batch, n),
        random_distribution(batch, n),
        torch.randn(batch, P + 2 * m, dtype=DT),
        torch.randn(batch, P, dtype=DT),
    ]
    return [t.requires_grad_() for t in inputs]


@pytest.mark.parametrize("shifts", [0, 1, 2])
def test_memory_step_gradcheck(shifts):
    torch.manual_seed(11)
    inputs = memory_step_inputs(2, 5, 3, shifts)
    assert torch.autograd.gradcheck(MemoryStep.apply, inputs)


def unroll_both_paths(cell: NTMCell, x: torch.Tensor, state: NTMState) -> dict:
    """Outputs, final state and gradients (parameters, then the initial state) per path."""
    results = {}
    leaves = [t.detach().requires_grad_() for t in state]
    for fused in (True, False):
        cell.fused = fused
        out, final = Recurrent(cell)(x, NTMState(*leaves))
        loss = out.square().sum() + sum(field.sin().sum() for field in final)
        grads = torch.autograd.grad(loss, [*cell.parameters(), *leaves])
        results[fused] = (out, final, grads)
    return results


@pytest.mark.parametrize("shifts", [0, 1, 2])
def test_fused_step_matches_plain_autograd(shifts):
    """Values and every gradient (parameters, initial state) over 6 steps, float64."""
    torch.manual_seed(12)
    cell = make_cell(memory_slots=7, shift_range=shifts)
    results = unroll_both_paths(cell, torch.randn(6, B, D, dtype=DT), random_state(cell=cell))
    (out, final, grads), (want_out, want_final, want_grads) = results[True], results[False]
    assert_close(out, want_out)
    for name, got, want in zip(NTMState._fields, final, want_final, strict=True):
        assert_close(got, want, msg=name)
    for got, want in zip(grads, want_grads, strict=True):
        assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_fused_step_in_float32_is_as_accurate_as_plain_from_initial_state():
    """One-hot start weights (zeros in w̃), γ ≈ 31: both float32 paths against float64 plain."""
    torch.manual_seed(13)
    cell = NTMCell(D, 16, memory_slots=32, memory_width=6)
    with torch.no_grad():
        cell.read_head.bias[-1] = cell.write_head.bias[-2 * 6 - 1] = 30.0  # γ ≈ 31
    x = torch.randn(8, B, D)
    got = unroll_both_paths(cell, x, cell.initial_state(B))
    exact = unroll_both_paths(
        copy.deepcopy(cell).double(), x.double(), cell.initial_state(B, dtype=DT)
    )
    assert_close(got[True][0], got[False][0])
    for fused, plain, want in zip(got[True][2], got[False][2], exact[False][2], strict=True):
        assert bool(torch.isfinite(fused).all())
        fused_error, plain_error = (fused - want).abs().max(), (plain - want).abs().max()
        assert fused_error <= 2 * plain_error + 1e-6, (fused_error, plain_error)


def test_weights_are_distributions():
    torch.manual_seed(8)
    cell = NTMCell(D, H, memory_slots=16, memory_width=4, shift_range=2)
    state = cell.initial_state(B)
    for x in torch.randn(10, B, D):
        _, state = cell(x, state)
        for w in (state.read_weights, state.write_weights):
            assert bool((w >= 0).all())
            assert_close(w.sum(-1), torch.ones(B))


def test_num_parameters_matches_the_parameters():
    cell = NTMCell(D, H, memory_slots=10, memory_width=6, shift_range=2)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 4 * H * (D + 6 + H + 2) + (H + 1) * (6 + 8) + (H + 1) * 26


# --- in layers ---


LENGTHS = [5, 2, 4]


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_padded_batch_equals_each_sequence_alone(reverse):
    torch.manual_seed(9)
    layer = Recurrent(make_cell(), reverse=reverse)
    x = torch.randn(5, len(LENGTHS), D, dtype=DT)
    for b, n in enumerate(LENGTHS):
        x[n:, b] = 50 * torch.randn_like(x[n:, b])  # a leak would show
    out, state = layer(x, lengths=torch.tensor(LENGTHS))
    for b, n in enumerate(LENGTHS):
        alone_out, alone_state = layer(x[:n, b : b + 1])
        assert_close(out[:n, b : b + 1], alone_out)
        assert torch.count_nonzero(out[n:, b]) == 0
        for name, got, want in zip(NTMState._fields, state, alone_state, strict=True):
            assert_close(got[b : b + 1], want, msg=name)


def test_recurrent_equals_a_loop_of_steps_and_reorder_state():
    torch.manual_seed(10)
    cell, x, state = make_cell(), torch.randn(4, B, D, dtype=DT), random_state()
    out, final = Recurrent(cell)(x, state)
    looped = state
    for t in range(4):
        h, looped = cell(x[t], looped)
        assert_close(out[t], h)
    index = torch.tensor([2, 0])
    _, picked = Recurrent(cell)(x[:, index], reorder_state(state, index))
    for got, want in zip(picked, reorder_state(final, index), strict=True):
        assert_close(got, want)


def test_recurrent_dropout_goes_to_the_controller():
    cell = NTMCell(D, H, memory_slots=8, memory_width=3)
    layer = Recurrent(cell, recurrent_dropout=0.5)
    assert cell.candidate_dropout is cell.controller.candidate_dropout is not None
    out, _ = layer(torch.randn(3, 2, D))
    assert out.shape == (3, 2, H)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory_slots": 0}, "memory_slots must be a positive integer, got 0"),
        ({"memory_width": 2.5}, "memory_width must be a positive integer, got 2.5"),
        ({"shift_range": -1}, "shift_range must be an integer >= 0, got -1"),
        ({"memory_slots": 4, "shift_range": 2}, "at most (memory_slots - 1) // 2 = 1, got 2"),
        ({"controller": "gru"}, "controller must be one of 'lstm', got 'gru'"),
        ({"fused": "yes"}, "fused must be True or False, got 'yes'"),
    ],
)
def test_bad_arguments_raise_one_line(options, message):
    with pytest.raises(ValueError) as error:
        NTMCell(D, H, **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_tiny_ntm_starts_learning_copy():
    """Copy 3 random 4-bit vectors after a delimiter: the loss falls within 50 Adam steps."""
    torch.manual_seed(0)
    bits, length, batch = 4, 3, 32
    cell = NTMCell(bits + 1, 32, memory_slots=8, memory_width=6)
    layer, readout = Recurrent(cell, batch_first=True), nn.Linear(32, bits)
    params = [*layer.parameters(), *readout.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(50):
        seq = torch.randint(0, 2, (batch, length, bits)).float()
        x = torch.zeros(batch, 2 * length + 1, bits + 1)
        x[:, :length, :bits] = seq
        x[:, length, bits] = 1.0  # the delimiter
        out, _ = layer(x)
        logits = readout(out[:, length + 1 :])  # (B, length, bits)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, seq)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.05 and last < 0.65, (first, last)


@pytest.mark.parametrize("fused", [True, False])
def test_a_step_frees_its_graph_once_its_outputs_are_gone(fused):
    # an output kept on the autograd ctx would make a cycle that C++ holds: every training
    # step's graph would then stay in memory (9 MB per update on the copy task)
    import gc
    import weakref

    torch.manual_seed(0)
    cell = NTMCell(3, 4, memory_slots=5, memory_width=2, fused=fused)
    h, state = cell(torch.randn(2, 3), cell.initial_state(2))
    (h.sum() + state.read.sum()).backward()
    alive = [weakref.ref(t) for t in state]
    del h, state
    gc.collect()
    assert all(ref() is None for ref in alive)
