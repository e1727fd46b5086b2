"""PeepholeLSTMCell against a slow loop, and torch.nn.LSTMCell when the peepholes are zero."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.cells.state import LSTMState

D, H, B, T = 3, 4, 2, 5
PEEPHOLES = ("weight_ci", "weight_cf", "weight_co")


def reference(cell: PeepholeLSTMCell, xs, h, c):
    """Slow loop straight from the docstring equations, one gate at a time."""
    W = dict(zip("ifgo", cell.weight_ih.split(H), strict=True))
    U = dict(zip("ifgo", cell.weight_hh.split(H), strict=True))
    b = dict(zip("ifgo", (cell.bias_ih + cell.bias_hh).split(H), strict=True))
    hs = []
    for x in xs:
        i = torch.sigmoid(x @ W["i"].T + h @ U["i"].T + b["i"] + cell.weight_ci * c)
        f = torch.sigmoid(x @ W["f"].T + h @ U["f"].T + b["f"] + cell.weight_cf * c)
        g = torch.tanh(x @ W["g"].T + h @ U["g"].T + b["g"])
        c = f * c + i * g
        o = torch.sigmoid(x @ W["o"].T + h @ U["o"].T + b["o"] + cell.weight_co * c)
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs), c


def unroll(cell, xs, h, c):
    state, hs = LSTMState(h, c), []
    for x in xs:
        y, state = cell(x, state)
        hs.append(y)
    return torch.stack(hs), state.c


def random_peepholes(cell: PeepholeLSTMCell) -> None:
    with torch.no_grad():
        for name in PEEPHOLES:
            getattr(cell, name).uniform_(-1.5, 1.5)


def outputs_and_grads(run, cell, xs, h0, c0):
    x, h, c = (t.clone().requires_grad_() for t in (xs, h0, c0))
    out, c_last = run(cell, x, h, c)
    loss = out.pow(2).sum() + c_last.sin().sum()
    return [out, c_last], torch.autograd.grad(loss, [x, h, c, *cell.parameters()])


def test_matches_slow_loop_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    cell = PeepholeLSTMCell(D, H).double()
    random_peepholes(cell)
    xs = 2 * torch.randn(T, B, D, dtype=torch.float64)
    h0, c0 = torch.randn(2, B, H, dtype=torch.float64)
    outs, grads = outputs_and_grads(unroll, cell, xs, h0, c0)
    outs_ref, grads_ref = outputs_and_grads(reference, cell, xs, h0, c0)
    for a, b in zip(outs + list(grads), outs_ref + list(grads_ref), strict=True):
        torch.testing.assert_close(a, b)
    # The peepholes matter: with them zeroed the output changes.
    with torch.no_grad():
        for name in PEEPHOLES:
            getattr(cell, name).zero_()
    assert not torch.allclose(unroll(cell, xs, h0, c0)[0], outs[0])


def test_zero_peepholes_at_init_equal_torch_lstmcell() -> None:
    torch.manual_seed(1)
    cell = PeepholeLSTMCell(D, H)
    for name in PEEPHOLES:
        assert torch.equal(getattr(cell, name), torch.zeros(H))
    twin = nn.LSTMCell(D, H)
    missing, unexpected = cell.load_state_dict(twin.state_dict(), strict=False)
    assert sorted(missing) == sorted(PEEPHOLES)
    assert not unexpected
    xs = torch.randn(T, B, D)
    h0, c0 = torch.randn(2, B, H)
    h, c = h0, c0
    state = LSTMState(h0, c0)
    for x in xs:
        h, c = twin(x, (h, c))
        y, state = cell(x, state)
        torch.testing.assert_close(y, h)
        torch.testing.assert_close(state.c, c)


def test_gradcheck(gradcheck_unrolled) -> None:
    torch.manual_seed(2)
    cell = PeepholeLSTMCell(2, 3).double()
    random_peepholes(cell)
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    state = LSTMState(*(torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in "hc"))
    assert gradcheck_unrolled(cell, xs, state)


@pytest.mark.parametrize("bias", [True, False])
def test_num_parameters(bias: bool) -> None:
    cell = PeepholeLSTMCell(7, 11, bias=bias)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 4 * 11 * (7 + 11 + (2 if bias else 0)) + 3 * 11


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="'true'"):
        PeepholeLSTMCell(3, 4, bias="true")
    with pytest.raises(ValueError, match="0"):
        PeepholeLSTMCell(0, 4)


def test_output_gate_peeks_at_the_new_cell_state() -> None:
    # Hand case, H = 1, every weight 0 except W_ig = 1 and w_co = 2, x = 1, h_0 = 0:
    # i = f = sigmoid(0) = 1/2, g = tanh(1), so c_1 = c_0 / 2 + tanh(1) / 2 and
    # o = sigmoid(2 c_1), computed from the new state c_1, not from c_0.
    cell = PeepholeLSTMCell(1, 1)
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.weight_ih[2, 0] = 1.0  # g row
        cell.weight_co.fill_(2.0)
    c0 = torch.tensor([[0.8]])
    h, state = cell(torch.ones(1, 1), LSTMState(torch.zeros(1, 1), c0))
    c1 = 0.5 * 0.8 + 0.5 * torch.tanh(torch.tensor(1.0))
    torch.testing.assert_close(state.c, c1.reshape(1, 1))
    torch.testing.assert_close(h, (torch.sigmoid(2.0 * c1) * torch.tanh(c1)).reshape(1, 1))
