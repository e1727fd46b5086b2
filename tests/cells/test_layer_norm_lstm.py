"""LayerNormLSTMCell against a slow loop written from Ba, Kiros & Hinton (2016), eq. 20-22."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.state import LSTMState

D, H, B, T = 3, 4, 3, 5


def layer_norm(v: Tensor, gain: Tensor, bias: Tensor, eps: float) -> Tensor:
    mu = v.sum(-1, keepdim=True) / v.shape[-1]
    var = ((v - mu) ** 2).sum(-1, keepdim=True) / v.shape[-1]
    return gain * (v - mu) / torch.sqrt(var + eps) + bias


def reference(
    p: dict[str, Tensor],
    xs: Tensor,
    h: Tensor,
    c: Tensor,
    *,
    norm_cell: bool,
    eps: float,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Slow loop: LN over all 4H pre-activations of each source, bias after, LN on c."""
    hs = []
    for x in xs:
        a = (
            layer_norm(x @ p["weight_ih"].T, p["norm_ih.weight"], p["norm_ih.bias"], eps)
            + layer_norm(h @ p["weight_hh"].T, p["norm_hh.weight"], p["norm_hh.bias"], eps)
            + p["bias"]
        )
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
        cand = torch.tanh(g) if mask is None else torch.tanh(g) * mask
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * cand
        c_hat = layer_norm(c, p["norm_c.weight"], p["norm_c.bias"], eps) if norm_cell else c
        h = torch.sigmoid(o) * torch.tanh(c_hat)
        hs.append(h)
    return torch.stack(hs), h, c


def make_cell(norm_cell: bool = True, eps: float = 1e-5, dtype=torch.float32) -> LayerNormLSTMCell:
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(D, H, norm_cell=norm_cell, eps=eps).to(dtype)
    with torch.no_grad():  # move LN gains/biases and b off their init so they matter
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell


def run_cell(cell: nn.Module, xs: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
    hs = []
    for x in xs:
        h, state = cell(x, state)
        hs.append(h)
    return torch.stack(hs), state


@pytest.mark.parametrize("norm_cell", [True, False])
def test_matches_reference_loop_outputs_and_gradients(norm_cell: bool) -> None:
    cell = make_cell(norm_cell, dtype=torch.float64)
    torch.manual_seed(1)
    xs = torch.randn(T, B, D, dtype=torch.float64, requires_grad=True)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    out, (_, cT) = run_cell(cell, xs, LSTMState(h0, c0))
    params = {n: p.detach().clone().requires_grad_() for n, p in cell.named_parameters()}
    xs_ref = xs.detach().clone().requires_grad_()
    ref, _, c_ref = reference(params, xs_ref, h0, c0, norm_cell=norm_cell, eps=cell.eps)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(cT, c_ref)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(xs.grad, xs_ref.grad)
    for name, p in cell.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_hoisted_projection_equals_per_step_forward() -> None:
    cell = make_cell()
    xs = torch.randn(T, B, D)
    gxs = cell.project_input(xs)  # (T, B, 4H) in one call
    assert gxs.shape == (T, B, 4 * H)
    state = cell.initial_state(B)
    out_fwd, _ = run_cell(cell, xs, state)
    hs = []
    for gx in gxs:
        h, state = cell.step(gx, state)
        hs.append(h)
    torch.testing.assert_close(torch.stack(hs), out_fwd)


def test_candidate_passes_through_hook() -> None:
    cell = make_cell()
    mask = (torch.rand(B, H) > 0.5).float() * 2.0

    class Mul(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return g * mask

    cell.candidate_dropout = Mul()
    xs = torch.randn(T, B, D)
    out, _ = run_cell(cell, xs, cell.initial_state(B))
    p = dict(cell.named_parameters())
    ref, _, _ = reference(
        p, xs, torch.zeros(B, H), torch.zeros(B, H), norm_cell=True, eps=cell.eps, mask=mask
    )
    torch.testing.assert_close(out, ref)


def test_output_invariant_to_input_scale() -> None:
    """LN_x removes the scale of W_ih x: x and 50 x give the same outputs (eps -> 0)."""
    cell = make_cell(eps=1e-12, dtype=torch.float64)
    xs = torch.randn(T, B, D, dtype=torch.float64)
    state = cell.initial_state(B, dtype=torch.float64)
    out1, _ = run_cell(cell, xs, state)
    out2, _ = run_cell(cell, 50.0 * xs, state)
    torch.testing.assert_close(out1, out2)


def test_init() -> None:
    cell = LayerNormLSTMCell(D, H, forget_bias=2.5)
    expected = torch.zeros(4 * H)
    expected[H : 2 * H] = 2.5
    torch.testing.assert_close(cell.bias.detach(), expected)
    bound = 1 / math.sqrt(H)
    assert cell.weight_hh.abs().max() <= bound and cell.weight_ih.abs().max() <= bound
    assert torch.all(cell.norm_ih.weight == 1) and torch.all(cell.norm_hh.bias == 0)


@pytest.mark.parametrize("norm_cell", [True, False])
def test_gradcheck_through_steps(norm_cell: bool) -> None:
    cell = make_cell(norm_cell, dtype=torch.float64)
    names = [n for n, _ in cell.named_parameters()]
    torch.manual_seed(2)
    xs = torch.randn(3, 2, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, H, dtype=torch.float64, requires_grad=True)
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(xs: Tensor, h0: Tensor, c0: Tensor, *ps: Tensor) -> tuple[Tensor, Tensor]:
        state, pd = LSTMState(h0, c0), dict(zip(names, ps, strict=True))
        hs = []
        for x in xs:
            h, state = functional_call(cell, pd, (x, state))
            hs.append(h)
        return torch.stack(hs), state.c

    assert torch.autograd.gradcheck(fn, (xs, h0, c0, *params))


@pytest.mark.parametrize("norm_cell", [True, False])
def test_num_parameters(norm_cell: bool) -> None:
    cell = LayerNormLSTMCell(5, 7, norm_cell=norm_cell)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"eps": 0.0}, "0.0"),
        ({"eps": -1e-3}, "-0.001"),
        ({"norm_cell": "yes"}, "'yes'"),
        ({"forget_bias": float("nan")}, "nan"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        LayerNormLSTMCell(D, H, **kwargs)


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="-2"):
        LayerNormLSTMCell(-2, H)
