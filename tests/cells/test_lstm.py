"""LSTMCell against torch.nn.LSTMCell (weights both ways), gradcheck, forget bias."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.state import LSTMState

D, H, B, T = 3, 5, 4, 6


def run_ours(cell, xs, h, c):
    state, hs = LSTMState(h, c), []
    for x in xs:
        y, state = cell(x, state)
        hs.append(y)
    return torch.stack(hs), state.c


def run_torch(cell, xs, h, c):
    hs = []
    for x in xs:
        h, c = cell(x, (h, c))
        hs.append(h)
    return torch.stack(hs), c


def outputs_and_grads(run, cell, xs, h0, c0):
    x, h, c = (t.clone().requires_grad_() for t in (xs, h0, c0))
    out, c_last = run(cell, x, h, c)
    (out.pow(2).sum() + c_last.sin().sum()).backward()
    return [out, c_last, x.grad, h.grad, c.grad], {n: p.grad for n, p in cell.named_parameters()}


def check_against_twin(ours: LSTMCell, twin: nn.LSTMCell) -> None:
    xs = torch.randn(T, B, D)
    h0, c0 = torch.randn(2, B, H)
    tensors, pgrads = outputs_and_grads(run_ours, ours, xs, h0, c0)
    tensors_t, pgrads_t = outputs_and_grads(run_torch, twin, xs, h0, c0)
    for a, b in zip(tensors, tensors_t, strict=True):
        torch.testing.assert_close(a, b)
    assert pgrads.keys() == pgrads_t.keys()
    for name in pgrads:
        torch.testing.assert_close(pgrads[name], pgrads_t[name], msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_loads_torch_state_dict_and_matches(bias: bool) -> None:
    torch.manual_seed(0)
    twin = nn.LSTMCell(D, H, bias=bias)
    ours = LSTMCell(D, H, bias=bias)
    ours.load_state_dict(twin.state_dict())
    check_against_twin(ours, twin)


def test_torch_loads_our_state_dict_and_matches() -> None:
    torch.manual_seed(1)
    ours = LSTMCell(D, H, forget_bias=1.0)
    twin = nn.LSTMCell(D, H)
    twin.load_state_dict(ours.state_dict())
    check_against_twin(ours, twin)


def test_gradcheck(gradcheck_unrolled) -> None:
    torch.manual_seed(2)
    cell = LSTMCell(2, 3).double()
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    state = LSTMState(*(torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in "hc"))
    assert gradcheck_unrolled(cell, xs, state)


@pytest.mark.parametrize("bias", [True, False])
def test_num_parameters(bias: bool) -> None:
    cell = LSTMCell(7, 11, bias=bias)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 4 * 11 * (7 + 11 + (2 if bias else 0))


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"forget_bias": float("nan")}, "nan"),
        ({"forget_bias": float("inf")}, "inf"),
        ({"forget_bias": "1"}, "'1'"),
        ({"bias": None}, "None"),
    ],
)
def test_invalid_options(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        LSTMCell(3, 4, **kwargs)


def test_zero_forget_bias_reproduces_torch_init() -> None:
    torch.manual_seed(3)
    twin = nn.LSTMCell(D, H)
    torch.manual_seed(3)
    ours = LSTMCell(D, H, forget_bias=0.0)
    for name, p in twin.named_parameters():
        assert torch.equal(getattr(ours, name), p), name


@pytest.mark.parametrize("forget_bias", [1.0, -2.5, 3])
def test_forget_bias_is_added_to_the_forget_slice_of_bias_ih(forget_bias: float) -> None:
    torch.manual_seed(4)
    twin = nn.LSTMCell(D, H)
    torch.manual_seed(4)
    ours = LSTMCell(D, H, forget_bias=forget_bias)
    expected = twin.bias_ih.detach().clone()
    expected[H : 2 * H] += forget_bias
    assert torch.equal(ours.bias_ih, expected)
    for name in ("weight_ih", "weight_hh", "bias_hh"):
        assert torch.equal(getattr(ours, name), getattr(twin, name)), name
    # The total forget bias is forget_bias plus two U(-1/sqrt(H), 1/sqrt(H)) draws.
    total = ours.bias_ih[H : 2 * H] + ours.bias_hh[H : 2 * H]
    assert (total - forget_bias).abs().max() <= 2 / H**0.5


def test_forget_gate_at_zero_erases_the_cell() -> None:
    # Hand case: f = sigmoid(-1e9) = 0 and i = 0 wipe c; the output is then o * tanh(0) = 0.
    cell = LSTMCell(1, 2, forget_bias=0.0)
    with torch.no_grad():
        cell.bias_ih[: 2 * 2] = -1e9  # i and f rows
    h, state = cell(torch.randn(3, 1), LSTMState(torch.randn(3, 2), torch.randn(3, 2)))
    assert torch.equal(state.c, torch.zeros(3, 2))
    assert torch.equal(h, torch.zeros(3, 2))
