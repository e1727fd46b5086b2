"""LayerNormGRUCell against a slow loop written from its docstring equations."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells.layer_norm_gru import LayerNormGRUCell

D, H, B, T = 3, 4, 3, 5
F64 = torch.float64


def layer_norm(v: Tensor, gain: Tensor, bias: Tensor, eps: float) -> Tensor:
    mu = v.sum(-1, keepdim=True) / v.shape[-1]
    var = ((v - mu) ** 2).sum(-1, keepdim=True) / v.shape[-1]
    return gain * (v - mu) / torch.sqrt(var + eps) + bias


def reference(
    p: dict[str, Tensor], xs: Tensor, h: Tensor, eps: float, mask: Tensor | None = None
) -> Tensor:
    """Slow loop, reset-after GRU with separate LN over the 3H input / recurrent units."""
    hs = []
    for x in xs:
        ax = layer_norm(x @ p["weight_ih"].T, p["norm_ih.weight"], p["norm_ih.bias"], eps)
        ah = layer_norm(h @ p["weight_hh"].T, p["norm_hh.weight"], p["norm_hh.bias"], eps)
        r = torch.sigmoid(ax[:, :H] + ah[:, :H])
        z = torch.sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        n = torch.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        if mask is not None:
            n = n * mask
        h = (1 - z) * n + z * h
        hs.append(h)
    return torch.stack(hs)


def make_cell(eps: float = 1e-5, dtype: torch.dtype = F64) -> LayerNormGRUCell:
    torch.manual_seed(0)
    cell = LayerNormGRUCell(D, H, eps=eps).to(dtype)
    with torch.no_grad():  # move LN gains/biases off their init so they matter
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell


def run_cell(cell: nn.Module, xs: Tensor, h: Tensor) -> Tensor:
    hs = []
    for x in xs:
        out, h = cell(x, h)
        hs.append(out)
    return torch.stack(hs)


def test_matches_reference_loop_outputs_and_gradients() -> None:
    cell = make_cell()
    torch.manual_seed(1)
    xs = torch.randn(T, B, D, dtype=F64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=F64)
    out = run_cell(cell, xs, h0)
    params = {n: p.detach().clone().requires_grad_() for n, p in cell.named_parameters()}
    xs_ref = xs.detach().clone().requires_grad_()
    ref = reference(params, xs_ref, h0, cell.eps)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(xs.grad, xs_ref.grad)
    for name, p in cell.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_recurrent_ln_bias_sits_inside_reset() -> None:
    """With r = 0 (reset bias -inf) the candidate ignores h entirely, including beta_h,n."""
    cell = make_cell()
    with torch.no_grad():
        cell.norm_hh.bias[:H] = -1e4  # r_t = sigmoid(-huge) = 0
    x, h = torch.randn(B, D, dtype=F64), torch.randn(B, H, dtype=F64)
    ax = layer_norm(x @ cell.weight_ih.T, cell.norm_ih.weight, cell.norm_ih.bias, cell.eps)
    ah = layer_norm(h @ cell.weight_hh.T, cell.norm_hh.weight, cell.norm_hh.bias, cell.eps)
    z = torch.sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
    expected = (1 - z) * torch.tanh(ax[:, 2 * H :]) + z * h
    torch.testing.assert_close(cell(x, h)[0], expected)


def test_hoisted_projection_equals_per_step_forward() -> None:
    cell = make_cell()
    xs = torch.randn(T, B, D, dtype=F64)
    gxs = cell.project_input(xs)  # (T, B, 3H) in one call
    assert gxs.shape == (T, B, 3 * H)
    h = cell.initial_state(B, dtype=F64)
    out_fwd = run_cell(cell, xs, h)
    hs = []
    for gx in gxs:
        out, h = cell.step(gx, h)
        hs.append(out)
    torch.testing.assert_close(torch.stack(hs), out_fwd)


def test_candidate_passes_through_hook() -> None:
    cell = make_cell()
    mask = (torch.rand(B, H) > 0.5).to(F64) * 2.0

    class Mul(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return g * mask

    cell.candidate_dropout = Mul()
    xs = torch.randn(T, B, D, dtype=F64)
    out = run_cell(cell, xs, cell.initial_state(B, dtype=F64))
    ref = reference(dict(cell.named_parameters()), xs, torch.zeros(B, H, dtype=F64), cell.eps, mask)
    torch.testing.assert_close(out, ref)


def test_output_invariant_to_input_scale() -> None:
    """LN_x removes the scale of W_ih x: x and 50 x give the same outputs (eps -> 0)."""
    cell = make_cell(eps=1e-12)
    xs = torch.randn(T, B, D, dtype=F64)
    h0 = torch.randn(B, H, dtype=F64)
    torch.testing.assert_close(run_cell(cell, xs, h0), run_cell(cell, 50.0 * xs, h0))


def test_init() -> None:
    cell = LayerNormGRUCell(D, H)
    assert cell.weight_hh.abs().max() <= H**-0.5 and cell.weight_ih.abs().max() <= H**-0.5
    assert torch.all(cell.norm_ih.weight == 1) and torch.all(cell.norm_hh.bias == 0)
    assert torch.equal(cell.initial_state(2), torch.zeros(2, H))


def test_gradcheck_through_steps() -> None:
    cell = make_cell()
    names = [n for n, _ in cell.named_parameters()]
    torch.manual_seed(2)
    xs = torch.randn(3, 2, D, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, H, dtype=F64, requires_grad=True)
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(xs: Tensor, h: Tensor, *ps: Tensor) -> Tensor:
        pd = dict(zip(names, ps, strict=True))
        hs = []
        for x in xs:
            out, h = functional_call(cell, pd, (x, h))
            hs.append(out)
        return torch.stack(hs)

    assert torch.autograd.gradcheck(fn, (xs, h0, *params))


def test_num_parameters() -> None:
    cell = LayerNormGRUCell(5, 7)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(("eps", "bad"), [(0.0, "0.0"), (-1e-3, "-0.001"), ("1e-5", "'1e-5'")])
def test_invalid_eps(eps: object, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        LayerNormGRUCell(D, H, eps=eps)
