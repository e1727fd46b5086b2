"""EchoStateCell: spectral radius, a fixed reservoir in the state dict, seeding, a slow loop."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cells.echo_state import EchoStateCell

D, H, B, T = 3, 20, 4, 6


def radius(w: torch.Tensor) -> float:
    return torch.linalg.eigvals(w.to(torch.float64)).abs().max().item()


def unroll(cell, xs, h):
    outs = []
    for x in xs:
        h, _ = cell(x, h)
        outs.append(h)
    return torch.stack(outs)


def reference(w_in, w, a, xs, h):
    """Slow loop: h_t = (1 - a) h_{t-1} + a tanh(W_in x_t + W h_{t-1}), one sample at a time."""
    outs = []
    for x in xs:
        rows = [(1 - a) * h[n] + a * torch.tanh(w_in @ x[n] + w @ h[n]) for n in range(len(x))]
        h = torch.stack(rows)
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize(
    ("hidden", "rho", "density"),
    [(20, 0.9, 1.0), (50, 0.5, 0.1), (30, 1.25, 0.3), (1, 0.7, 1.0), (100, 0.99, 0.05)],
)
def test_spectral_radius_is_the_requested_one(hidden: int, rho: float, density: float) -> None:
    cell = EchoStateCell(D, hidden, spectral_radius=rho, density=density, seed=hidden)
    assert abs(radius(cell.weight_hh) - rho) < 1e-5


def test_density_and_input_scaling() -> None:
    cell = EchoStateCell(D, 100, density=0.2, input_scaling=0.3, seed=0)
    fraction = (cell.weight_hh != 0).float().mean().item()
    assert 0.17 < fraction < 0.23
    w_in = cell.weight_ih
    assert w_in.abs().max() <= 0.3
    assert w_in.abs().max() > 0.25  # spread over (-0.3, 0.3), not narrower


def test_nothing_is_trainable() -> None:
    cell = EchoStateCell(D, H, seed=1)
    assert cell.num_parameters() == 0
    assert sum(p.numel() for p in cell.parameters()) == 0
    assert list(cell.parameters()) == []
    assert not any(b.requires_grad for b in cell.buffers())
    h, _ = cell(torch.randn(B, D, requires_grad=True))
    h.sum().backward()  # gradients reach the inputs, never the reservoir
    assert cell.weight_hh.grad is None and cell.weight_ih.grad is None


def test_state_dict_carries_the_reservoir() -> None:
    cell = EchoStateCell(D, H, leak_rate=0.5, seed=2)
    state = cell.state_dict()
    assert set(state) == {"weight_ih", "weight_hh"}
    other = EchoStateCell(D, H, leak_rate=0.5, seed=3)
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    assert not torch.allclose(unroll(cell, xs, h0), unroll(other, xs, h0))
    other.load_state_dict(state)
    assert torch.equal(unroll(cell, xs, h0), unroll(other, xs, h0))


def test_seed_makes_it_deterministic() -> None:
    a = EchoStateCell(D, H, density=0.5, seed=4)
    torch.manual_seed(123)  # the global generator does not matter when seed is given
    b = EchoStateCell(D, H, density=0.5, seed=4)
    c = EchoStateCell(D, H, density=0.5, seed=5)
    assert torch.equal(a.weight_ih, b.weight_ih) and torch.equal(a.weight_hh, b.weight_hh)
    assert not torch.equal(a.weight_hh, c.weight_hh)
    torch.manual_seed(6)
    d = EchoStateCell(D, H)
    torch.manual_seed(6)
    e = EchoStateCell(D, H)
    assert torch.equal(d.weight_hh, e.weight_hh)


@pytest.mark.parametrize("leak_rate", [1.0, 0.3])
def test_matches_slow_loop(leak_rate: float) -> None:
    cell = EchoStateCell(D, H, leak_rate=leak_rate, input_scaling=0.5, seed=7).double()
    torch.manual_seed(7)
    xs, h0 = torch.randn(T, B, D).double(), torch.randn(B, H).double()
    expected = reference(cell.weight_ih, cell.weight_hh, leak_rate, xs, h0)
    torch.testing.assert_close(unroll(cell, xs, h0), expected)


def test_echo_state_property_forgets_the_initial_state() -> None:
    # Radius 0.5 and tanh: two different starts driven by the same input converge.
    cell = EchoStateCell(D, H, spectral_radius=0.5, seed=8)
    torch.manual_seed(8)
    xs = torch.randn(60, 1, D)
    ha = unroll(cell, xs, torch.randn(1, H))[-1]
    hb = unroll(cell, xs, torch.randn(1, H))[-1]
    assert (ha - hb).abs().max() < 1e-6


def test_gradcheck_inputs_and_initial_state() -> None:
    cell = EchoStateCell(2, 3, leak_rate=0.6, seed=9).double()
    torch.manual_seed(9)
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h: unroll(cell, x, h), (xs, h0))


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"spectral_radius": 0.0}, "0.0"),
        ({"spectral_radius": float("inf")}, "inf"),
        ({"input_scaling": -1.0}, "-1.0"),
        ({"leak_rate": 0.0}, "0.0"),
        ({"leak_rate": 1.1}, "1.1"),
        ({"density": 0}, "0"),
        ({"density": 2.0}, "2.0"),
        ({"seed": -1}, "-1"),
        ({"seed": 1.5}, "1.5"),
    ],
)
def test_invalid_options(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        EchoStateCell(3, 4, **kwargs)
