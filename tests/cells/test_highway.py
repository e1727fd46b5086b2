"""Highway: a slow per-unit loop from the equations, a hand-computed case, gates, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from rnnkit.cells.highway import Highway


def slow_highway(x: list[float], layers: list[tuple[list, list]], phi) -> list[float]:
    """y = phi(W_H x + b_H) * T + x * (1 - T), T = sigmoid(W_T x + b_T), unit by unit."""
    size = len(x)
    for weight, bias in layers:
        y = []
        for j in range(size):
            pre_h = bias[j] + sum(weight[j][k] * x[k] for k in range(size))
            pre_t = bias[size + j] + sum(weight[size + j][k] * x[k] for k in range(size))
            t = 1.0 / (1.0 + math.exp(-pre_t))
            y.append(phi(pre_h) * t + x[j] * (1.0 - t))
        x = y
    return x


PHIS = {
    "relu": lambda v: max(v, 0.0),
    "tanh": math.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
    "identity": lambda v: v,
}


@pytest.mark.parametrize("activation", sorted(PHIS))
def test_matches_slow_loop(activation: str) -> None:
    torch.manual_seed(0)
    net = Highway(3, num_layers=2, activation=activation, gate_bias=-1.0).double()
    with torch.no_grad():  # random biases too, so the gate is not the same everywhere
        for layer in net.layers:
            layer.bias.normal_()
    x = torch.randn(2, 3, dtype=torch.float64)
    layers = [(lay.weight.tolist(), lay.bias.tolist()) for lay in net.layers]
    expected = [slow_highway(row, layers, PHIS[activation]) for row in x.tolist()]
    torch.testing.assert_close(net(x), torch.tensor(expected, dtype=torch.float64))


def test_hand_computed_two_units() -> None:
    net = Highway(2, activation="relu", gate_bias=0.0)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))
        net.layers[0].bias.zero_()
    # H = relu(x) = [1, 0]; T = sigmoid(0) = 0.5; y = 0.5 * H + 0.5 * x = [1, -1]
    y = net(torch.tensor([[1.0, -2.0]]))
    torch.testing.assert_close(y, torch.tensor([[1.0, -1.0]]))


def test_leading_dims_are_positionwise() -> None:
    torch.manual_seed(1)
    net = Highway(4, num_layers=3)
    x = torch.randn(2, 5, 3, 4)
    y = net(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y[1, 2], net(x[1, 2]))


def test_shut_gate_is_identity_and_open_gate_is_transform() -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 5)
    shut = Highway(5, num_layers=2, activation="tanh", gate_bias=float("-inf"))
    torch.testing.assert_close(shut(x), x, rtol=0, atol=0)
    opened = Highway(5, activation="tanh", gate_bias=float("inf"))
    lay = opened.layers[0]
    expected = torch.tanh(x @ lay.weight[:5].T + lay.bias[:5])
    torch.testing.assert_close(opened(x), expected)


def test_init_sets_transform_bias_only() -> None:
    torch.manual_seed(3)
    net = Highway(6, num_layers=2, gate_bias=-3.0)
    bound = 1.0 / math.sqrt(6)
    for lay in net.layers:
        assert torch.all(lay.bias[6:] == -3.0)
        assert torch.all(lay.bias[:6].abs() <= bound)
        assert torch.all(lay.weight.abs() <= bound)
    assert Highway(2).layers[0].bias[2:].tolist() == [-2.0, -2.0]


def test_gradcheck_inputs_and_parameters() -> None:
    torch.manual_seed(4)
    net = Highway(3, num_layers=2, activation="tanh", gate_bias=-0.5).double()
    names = [n for n, _ in net.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in net.parameters()]
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def fn(x, *ps):
        return functional_call(net, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(fn, (x, *params))


@pytest.mark.parametrize(("size", "num_layers"), [(1, 1), (7, 3), (16, 2)])
def test_num_parameters(size: int, num_layers: int) -> None:
    net = Highway(size, num_layers=num_layers)
    assert net.num_parameters() == sum(p.numel() for p in net.parameters())
    assert net.num_parameters() == num_layers * 2 * size * (size + 1)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"size": 0}, "0"),
        ({"size": 4, "num_layers": 0}, "0"),
        ({"size": 4, "activation": "elu"}, "'elu'"),
        ({"size": 4, "gate_bias": float("nan")}, "nan"),
        ({"size": 4, "gate_bias": "low"}, "'low'"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    size = kwargs.pop("size")
    with pytest.raises(ValueError, match=bad):
        Highway(size, **kwargs)
