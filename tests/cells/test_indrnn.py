"""IndRNNCell against a per-unit slow loop, hand numbers, gradcheck, recurrent weight clipping."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.cells.indrnn import IndRNNCell

D, H, B, T = 3, 4, 2, 5


def reference(cell: IndRNNCell, xs: torch.Tensor, h: torch.Tensor, bound: float | None):
    """Slow loop from h_t = f(W x_t + u * h_{t-1} + b), one unit at a time."""
    f = torch.relu if cell.nonlinearity == "relu" else torch.tanh
    u = cell.weight_hh if bound is None else torch.clamp(cell.weight_hh, -bound, bound)
    outs = []
    for x in xs:
        units = [f(x @ cell.weight_ih[n] + u[n] * h[:, n] + cell.bias_ih[n]) for n in range(H)]
        h = torch.stack(units, dim=1)  # (B, H)
        outs.append(h)
    return torch.stack(outs)


def unroll(cell, xs, h):
    outs = []
    for x in xs:
        h, _ = cell(x, h)
        outs.append(h)
    return torch.stack(outs)


def outputs_and_grads(run, cell, xs, h0):
    x, h = xs.clone().requires_grad_(), h0.clone().requires_grad_()
    out = run(cell, x, h)
    return out, torch.autograd.grad(out.pow(2).sum(), [x, h, *cell.parameters()])


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("bound", [None, 0.7])
def test_matches_slow_loop(nonlinearity: str, bound: float | None) -> None:
    torch.manual_seed(0)
    cell = IndRNNCell(D, H, nonlinearity=nonlinearity, recurrent_max_abs=bound).double()
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([1.5, -0.3, 0.9, -2.0]))  # some beyond the bound
    xs, h0 = torch.randn(T, B, D).double(), torch.rand(B, H).double()
    out, grads = outputs_and_grads(unroll, cell, xs, h0)
    out_ref, grads_ref = outputs_and_grads(lambda c, x, h: reference(c, x, h, bound), cell, xs, h0)
    torch.testing.assert_close(out, out_ref)
    for a, b in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, b)


def test_hand_computed_clipping() -> None:
    # Zero input part, h_0 = 1, u = (2, -3, 0.5), bound 1: u is used as (1, -1, 0.5).
    cell = IndRNNCell(1, 3, nonlinearity="tanh", recurrent_max_abs=1.0)
    with torch.no_grad():
        cell.weight_ih.zero_()
        cell.bias_ih.zero_()
        cell.weight_hh.copy_(torch.tensor([2.0, -3.0, 0.5]))
    h, _ = cell(torch.randn(1, 1), torch.ones(1, 3))
    expected = torch.tensor([[math.tanh(1.0), math.tanh(-1.0), math.tanh(0.5)]])
    torch.testing.assert_close(h, expected)
    # The stored parameter is untouched; the clipped entries get no gradient.
    assert torch.equal(cell.weight_hh.detach(), torch.tensor([2.0, -3.0, 0.5]))
    h.sum().backward()
    assert cell.weight_hh.grad[0] == 0 and cell.weight_hh.grad[1] == 0
    torch.testing.assert_close(cell.weight_hh.grad[2], torch.tensor(1 - math.tanh(0.5) ** 2))


def test_relu_hand_case() -> None:
    # h_1 = relu(W x + u h_0 + b) with D = 1, H = 2 written out.
    cell = IndRNNCell(1, 2)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0], [-2.0]]))
        cell.weight_hh.copy_(torch.tensor([0.5, 0.25]))
        cell.bias_ih.copy_(torch.tensor([0.1, 0.2]))
    h, _ = cell(torch.tensor([[0.3]]), torch.tensor([[1.0, 2.0]]))
    # unit 0: 0.3 + 0.5 + 0.1 = 0.9; unit 1: -0.6 + 0.5 + 0.2 = 0.1
    torch.testing.assert_close(h, torch.tensor([[0.9, 0.1]]))


@settings(max_examples=25, deadline=None)
@given(bound=st.floats(1e-3, 5.0), seed=st.integers(0, 2**31))
def test_init_lies_inside_the_bound(bound: float, seed: int) -> None:
    torch.manual_seed(seed)
    cell = IndRNNCell(2, 64, recurrent_max_abs=bound)
    assert cell.weight_hh.abs().max().item() <= min(1.0, bound)


def test_default_init_range() -> None:
    torch.manual_seed(1)
    u = IndRNNCell(2, 1000).weight_hh
    assert u.abs().max() <= 1.0
    assert u.min() < -0.9 and u.max() > 0.9  # uniform over (-1, 1), not a narrower range


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_gradcheck(nonlinearity: str, gradcheck_unrolled) -> None:
    torch.manual_seed(2)
    cell = IndRNNCell(2, 3, nonlinearity=nonlinearity, recurrent_max_abs=0.8).double()
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck_unrolled(cell, xs, h0)


def test_num_parameters() -> None:
    cell = IndRNNCell(7, 11)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 11 * 7 + 2 * 11


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"nonlinearity": "sigmoid"}, "'sigmoid'"),
        ({"recurrent_max_abs": 0}, "0"),
        ({"recurrent_max_abs": -1.0}, "-1.0"),
        ({"recurrent_max_abs": float("nan")}, "nan"),
        ({"recurrent_max_abs": "1"}, "'1'"),
    ],
)
def test_invalid_options(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        IndRNNCell(3, 4, **kwargs)
