"""OriginalLSTMCell against torch's LSTM with the forget gate pinned open and a slow loop."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rnnkit.cells.original_lstm import OriginalLSTMCell
from rnnkit.cells.state import LSTMState

D, H, B, T = 3, 4, 2, 5


def reference(cell: OriginalLSTMCell, xs, h, c):
    """Slow loop straight from the docstring: per-gate matrices, no packing tricks."""
    W = dict(zip("igo", cell.weight_ih.split(H), strict=True))
    U = dict(zip("igo", cell.weight_hh.split(H), strict=True))
    b = dict(zip("igo", (cell.bias_ih + cell.bias_hh).split(H), strict=True))
    hs = []
    for x in xs:
        i = torch.sigmoid(x @ W["i"].T + h @ U["i"].T + b["i"])
        g = torch.tanh(x @ W["g"].T + h @ U["g"].T + b["g"])
        o = torch.sigmoid(x @ W["o"].T + h @ U["o"].T + b["o"])
        c = c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs), c


def unroll(cell, xs, h, c):
    hs = []
    state = LSTMState(h, c)
    for x in xs:
        y, state = cell(x, state)
        hs.append(y)
    return torch.stack(hs), state.c


def grads(fn, cell, xs, h0, c0):
    x, h, c = (t.clone().requires_grad_() for t in (xs, h0, c0))
    out, c_last = fn(cell, x, h, c)
    loss = out.pow(2).sum() + c_last.sin().sum()
    params = list(cell.parameters())
    return (out, c_last), torch.autograd.grad(loss, [x, h, c, *params])


def test_matches_slow_loop_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    cell = OriginalLSTMCell(D, H).double()
    xs = torch.randn(T, B, D, dtype=torch.float64)
    h0, c0 = torch.randn(2, B, H, dtype=torch.float64)
    (out, c), g = grads(lambda m, *a: unroll(m, *a), cell, xs, h0, c0)
    (out_ref, c_ref), g_ref = grads(reference, cell, xs, h0, c0)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(c, c_ref)
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b)


def test_equals_torch_lstm_with_forget_gate_pinned_open() -> None:
    # torch.nn.LSTMCell with f = sigmoid(1e9) = 1 exactly is c_t = c_{t-1} + i g.
    torch.manual_seed(1)
    ours = OriginalLSTMCell(D, H)
    twin = nn.LSTMCell(D, H)

    def widen(t: torch.Tensor, f_value: float) -> torch.Tensor:
        i, g, o = t.split(H)
        return torch.cat([i, torch.full_like(i, f_value), g, o])

    with torch.no_grad():
        twin.weight_ih.copy_(widen(ours.weight_ih, 0.0))
        twin.weight_hh.copy_(widen(ours.weight_hh, 0.0))
        twin.bias_ih.copy_(widen(ours.bias_ih, 1e9))
        twin.bias_hh.copy_(widen(ours.bias_hh, 0.0))
    xs = torch.randn(T, B, D)
    h0, c0 = torch.randn(2, B, H)
    (out, c), g = grads(lambda m, *a: unroll(m, *a), ours, xs, h0, c0)

    def run_twin(m, xs, h, c):
        hs = []
        for x in xs:
            h, c = m(x, (h, c))
            hs.append(h)
        return torch.stack(hs), c

    (out_t, c_t), g_t = grads(run_twin, twin, xs, h0, c0)
    torch.testing.assert_close(out, out_t)
    torch.testing.assert_close(c, c_t)
    for a, b in zip(g[:3], g_t[:3], strict=True):  # x, h0, c0
        torch.testing.assert_close(a, b)
    for ours_grad, twin_grad in zip(g[3:], g_t[3:], strict=True):  # drop the f rows
        i, _, g_rows, o = twin_grad.split(H)
        torch.testing.assert_close(ours_grad, torch.cat([i, g_rows, o]))


def test_gradcheck(gradcheck_unrolled) -> None:
    torch.manual_seed(2)
    cell = OriginalLSTMCell(2, 3).double()
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    state = LSTMState(*(torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in "hc"))
    assert gradcheck_unrolled(cell, xs, state)


@pytest.mark.parametrize("bias", [True, False])
def test_num_parameters(bias: bool) -> None:
    cell = OriginalLSTMCell(7, 11, bias=bias)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 3 * 11 * (7 + 11 + (2 if bias else 0))


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="'no'"):
        OriginalLSTMCell(3, 4, bias="no")
    with pytest.raises(ValueError, match="-1"):
        OriginalLSTMCell(3, -1)


def test_zero_initial_state() -> None:
    state = OriginalLSTMCell(3, 4).initial_state(2, dtype=torch.float64)
    assert isinstance(state, LSTMState)
    assert torch.equal(state.h, torch.zeros(2, 4, dtype=torch.float64))
    assert torch.equal(state.c, torch.zeros(2, 4, dtype=torch.float64))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), steps=st.integers(1, 200), scale=st.floats(0.1, 100.0))
def test_shut_input_gate_keeps_the_cell_exactly(seed: int, steps: int, scale: float) -> None:
    # The constant error carousel: i = sigmoid(-1e9) = 0, so c_t = c_{t-1} + 0 bit for bit,
    # and the error flows back unchanged: d c_T / d c_0 = I.
    torch.manual_seed(seed)
    cell = OriginalLSTMCell(D, H)
    with torch.no_grad():
        cell.bias_ih[:H] = -1e9
    xs = scale * torch.randn(steps, B, D)
    c0 = torch.randn(B, H, requires_grad=True)
    state = LSTMState(torch.randn(B, H), c0)
    for x in xs:
        _, state = cell(x, state)
    assert torch.equal(state.c, c0)
    (dc0,) = torch.autograd.grad(state.c.sum(), c0)
    assert torch.equal(dc0, torch.ones(B, H))
