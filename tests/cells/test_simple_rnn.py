"""SimpleRNNCell against torch.nn.RNNCell, gradcheck, the IRNN init."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from rnnkit.cells.simple_rnn import IRNN_INPUT_STD, SimpleRNNCell

D, H, B, T = 3, 5, 4, 6


def unroll(cell: nn.Module, xs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Run any (x, h) -> h' cell over (T, B, D), return (T, B, H)."""
    outs = []
    for x in xs:
        out = cell(x, h)
        h = out[0] if isinstance(out, tuple) else out
        outs.append(h)
    return torch.stack(outs)


def check_against_twin(ours: nn.Module, twin: nn.Module) -> None:
    """Same outputs and gradients (params, inputs, initial state) over T steps."""
    xs = torch.randn(T, B, D)
    h0 = torch.randn(B, H)
    results = []
    for cell in (ours, twin):
        x, h = xs.clone().requires_grad_(), h0.clone().requires_grad_()
        out = unroll(cell, x, h)
        out.pow(2).sum().backward()
        results.append((out, x.grad, h.grad, {n: p.grad for n, p in cell.named_parameters()}))
    (o1, gx1, gh1, gp1), (o2, gx2, gh2, gp2) = results
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(gx1, gx2)
    torch.testing.assert_close(gh1, gh2)
    assert gp1.keys() == gp2.keys()
    for name in gp1:
        torch.testing.assert_close(gp1[name], gp2[name], msg=name)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_rnncell_loading_torch_weights(nonlinearity: str, bias: bool) -> None:
    torch.manual_seed(0)
    twin = nn.RNNCell(D, H, bias=bias, nonlinearity=nonlinearity)
    ours = SimpleRNNCell(D, H, nonlinearity=nonlinearity, bias=bias)
    ours.load_state_dict(twin.state_dict())
    check_against_twin(ours, twin)


@pytest.mark.parametrize("init", ["default", "identity"])
def test_torch_rnncell_loads_our_weights(init: str) -> None:
    torch.manual_seed(1)
    ours = SimpleRNNCell(D, H, nonlinearity="relu", init=init)
    with torch.no_grad():  # IRNN input weights are tiny; make the comparison informative
        ours.weight_ih.normal_()
    twin = nn.RNNCell(D, H, nonlinearity="relu")
    twin.load_state_dict(ours.state_dict())
    check_against_twin(ours, twin)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradcheck(nonlinearity: str, gradcheck_unrolled) -> None:
    torch.manual_seed(2)
    cell = SimpleRNNCell(2, 3, nonlinearity=nonlinearity).double()
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck_unrolled(cell, xs, h0)


@pytest.mark.parametrize("bias", [True, False])
def test_num_parameters(bias: bool) -> None:
    cell = SimpleRNNCell(7, 11, bias=bias)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 11 * (7 + 11) + (22 if bias else 0)


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"nonlinearity": "sigmoid"}, "'sigmoid'"),
        ({"init": "orthogonal"}, "'orthogonal'"),
        ({"bias": "yes"}, "'yes'"),
    ],
)
def test_invalid_options(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        SimpleRNNCell(3, 4, **kwargs)


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="0"):
        SimpleRNNCell(0, 4)
    with pytest.raises(ValueError, match="2.5"):
        SimpleRNNCell(3, 2.5)


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 20),
    h=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    bias=st.booleans(),
    nonlinearity=st.sampled_from(["relu", "tanh"]),
)
def test_identity_init_is_exact(d: int, h: int, seed: int, bias: bool, nonlinearity: str) -> None:
    torch.manual_seed(seed)
    cell = SimpleRNNCell(d, h, nonlinearity=nonlinearity, init="identity", bias=bias)
    assert torch.equal(cell.weight_hh, torch.eye(h))
    if bias:
        assert torch.equal(cell.bias_ih, torch.zeros(h))
        assert torch.equal(cell.bias_hh, torch.zeros(h))


def test_identity_init_input_weights_are_small_gaussian() -> None:
    torch.manual_seed(3)
    w = SimpleRNNCell(100, 100, init="identity").weight_ih
    assert abs(w.mean().item()) < 0.1 * IRNN_INPUT_STD
    assert abs(w.std().item() / IRNN_INPUT_STD - 1) < 0.05


def test_irnn_keeps_a_nonnegative_state_without_input() -> None:
    # relu(I h + 0) = h for h >= 0: the IRNN starts as a perfect memory.
    torch.manual_seed(4)
    cell = SimpleRNNCell(D, H, nonlinearity="relu", init="identity")
    h0 = torch.rand(B, H)
    out = unroll(cell, torch.zeros(50, B, D), h0)
    assert torch.equal(out[-1], h0)


def test_forward_without_state_starts_from_zero() -> None:
    torch.manual_seed(5)
    cell = SimpleRNNCell(D, H)
    x = torch.randn(B, D)
    h, state = cell(x)
    expected = torch.tanh(x @ cell.weight_ih.T + cell.bias_ih + cell.bias_hh)
    torch.testing.assert_close(h, expected)
    assert state is h
