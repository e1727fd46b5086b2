"""LeakyRNNCell: alpha = 1 is the simple RNN, a hand-checked case, a slow loop, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnkit.cells.leaky_rnn import LeakyRNNCell
from rnnkit.cells.simple_rnn import SimpleRNNCell

D, H, B, T = 3, 5, 4, 6


def unroll(cell: nn.Module, xs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    outs = []
    for x in xs:
        out = cell(x, h)
        h = out[0] if isinstance(out, tuple) else out
        outs.append(h)
    return torch.stack(outs)


def reference(cell: LeakyRNNCell, xs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Slow loop: h_t = (1 - a) h_{t-1} + a f(W x_t + U h_{t-1} + b)."""
    f = torch.tanh if cell.nonlinearity == "tanh" else torch.relu
    b = cell.bias_ih + cell.bias_hh
    outs = []
    for x in xs:
        h = (1 - cell.alpha) * h + cell.alpha * f(x @ cell.weight_ih.T + h @ cell.weight_hh.T + b)
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_alpha_one_is_the_simple_rnn(nonlinearity: str) -> None:
    torch.manual_seed(0)
    leaky = LeakyRNNCell(D, H, alpha=1.0, nonlinearity=nonlinearity)
    simple = SimpleRNNCell(D, H, nonlinearity=nonlinearity)
    simple.load_state_dict(leaky.state_dict())
    twin = nn.RNNCell(D, H, nonlinearity=nonlinearity)
    twin.load_state_dict(leaky.state_dict())
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    out = unroll(leaky, xs, h0)
    assert torch.equal(out, unroll(simple, xs, h0))
    torch.testing.assert_close(out, unroll(twin, xs, h0))


def test_hand_checked_two_units() -> None:
    # D = 1, H = 2, alpha = 0.25, W = (1, -1)^T, U = diag(0.5, 0), b = (0, 0.5) split over
    # the two biases; x_1 = 2, h_0 = (1, -2):
    #   pre = (2 + 0.5, -2 + 0 + 0.5) = (2.5, -1.5)
    #   h_1 = 0.75 h_0 + 0.25 tanh(pre) = (0.75 + 0.25 tanh 2.5, -1.5 + 0.25 tanh(-1.5))
    cell = LeakyRNNCell(1, 2, alpha=0.25)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0], [-1.0]]))
        cell.weight_hh.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.0]]))
        cell.bias_ih.copy_(torch.tensor([0.0, 0.25]))
        cell.bias_hh.copy_(torch.tensor([0.0, 0.25]))
    h, _ = cell(torch.tensor([[2.0]]), torch.tensor([[1.0, -2.0]]))
    expected = [0.75 + 0.25 * math.tanh(2.5), -1.5 + 0.25 * math.tanh(-1.5)]
    torch.testing.assert_close(h, torch.tensor([expected]))


@pytest.mark.parametrize(("alpha", "nonlinearity"), [(0.3, "tanh"), (0.05, "relu")])
def test_matches_slow_loop_outputs_and_gradients(alpha: float, nonlinearity: str) -> None:
    torch.manual_seed(1)
    cell = LeakyRNNCell(D, H, alpha=alpha, nonlinearity=nonlinearity).double()
    xs, h0 = torch.randn(T, B, D).double(), torch.randn(B, H).double()
    results = []
    for run in (unroll, reference):
        x, h = xs.clone().requires_grad_(), h0.clone().requires_grad_()
        out = run(cell, x, h)
        results.append([out, *torch.autograd.grad(out.pow(2).sum(), [x, h, *cell.parameters()])])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


def test_zero_cell_decays_geometrically() -> None:
    # All weights 0, so the target is tanh(0) = 0 and h_t = (1 - alpha)^t h_0.
    cell = LeakyRNNCell(D, H, alpha=0.1)
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
    h0 = torch.randn(B, H)
    out = unroll(cell, torch.randn(10, B, D), h0)
    torch.testing.assert_close(out[-1], 0.9**10 * h0)


def test_gradcheck(gradcheck_unrolled) -> None:
    torch.manual_seed(2)
    cell = LeakyRNNCell(2, 3, alpha=0.4).double()
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck_unrolled(cell, xs, h0)


def test_num_parameters() -> None:
    cell = LeakyRNNCell(7, 11)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 11 * (7 + 11 + 2)


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"alpha": 0.0}, "0.0"),
        ({"alpha": 1.5}, "1.5"),
        ({"alpha": -0.2}, "-0.2"),
        ({"alpha": "0.5"}, "'0.5'"),
        ({"nonlinearity": "gelu"}, "'gelu'"),
    ],
)
def test_invalid_options(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        LeakyRNNCell(3, 4, **kwargs)
