"""RecurrentHighwayCell: a slow loop from the equations, gradients, gradcheck, gates, options."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.cells.recurrent_highway import RecurrentHighwayCell


def slow_rhn(cell: RecurrentHighwayCell, xs: torch.Tensor, s: torch.Tensor, cand=lambda v: v):
    """The docstring's equations, block by block from the named parameter slices."""
    H, L = cell.hidden_size, cell.depth
    W_H, W_T = cell.weight_ih[:H], cell.weight_ih[H : 2 * H]
    outs = []
    for x in xs:
        for l in range(1, L + 1):  # noqa: E741 - the paper's index
            R, b = cell.weight_hh[l - 1], cell.bias_hh[l - 1]
            first = 1.0 if l == 1 else 0.0
            h_l = torch.tanh(first * x @ W_H.T + s @ R[:H].T + b[:H])
            t_l = torch.sigmoid(first * x @ W_T.T + s @ R[H : 2 * H].T + b[H : 2 * H])
            if cell.coupled:
                c_l = 1.0 - t_l
            else:
                W_C = cell.weight_ih[2 * H :]
                c_l = torch.sigmoid(first * x @ W_C.T + s @ R[2 * H :].T + b[2 * H :])
            s = cand(h_l) * t_l + s * c_l
        outs.append(s)
    return torch.stack(outs)


def run_cell(cell: RecurrentHighwayCell, xs: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    outs = []
    for x in xs:
        h, s = cell(x, s)
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize(("depth", "coupled"), [(1, True), (3, True), (2, False), (4, False)])
def test_matches_slow_loop_outputs_and_gradients(depth: int, coupled: bool) -> None:
    torch.manual_seed(depth)
    cell = RecurrentHighwayCell(3, 4, depth=depth, coupled=coupled, gate_bias=-1.0).double()
    xs = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    s0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    got, want = run_cell(cell, xs, s0), slow_rhn(cell, xs, s0)
    torch.testing.assert_close(got, want)
    weights = torch.randn_like(got)
    wrt = [xs, s0, *cell.parameters()]
    g_got = torch.autograd.grad((got * weights).sum(), wrt)
    g_want = torch.autograd.grad((want * weights).sum(), wrt)
    for a, b in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(a, b)


def test_hoisted_projection_equals_forward() -> None:
    torch.manual_seed(5)
    cell = RecurrentHighwayCell(5, 3, depth=2)
    xs = torch.randn(4, 2, 5)
    gx = cell.project_input(xs)  # one GEMM over all steps, as a layer does
    assert gx.shape == (4, 2, 6)
    s, outs = cell.initial_state(2), []
    for t in range(4):
        h, s = cell.step(gx[t], s)
        outs.append(h)
    torch.testing.assert_close(torch.stack(outs), run_cell(cell, xs, torch.zeros(2, 3)))
    h, s = cell(xs[0])  # state None -> zeros
    torch.testing.assert_close(h, outs[0])
    assert isinstance(s, torch.Tensor) and s.shape == (2, 3)


def test_candidate_hook_is_applied_to_every_micro_layer() -> None:
    torch.manual_seed(6)
    cell = RecurrentHighwayCell(3, 4, depth=3).double()

    class Scale(nn.Module):
        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return 0.5 * v

    cell.candidate_dropout = Scale()
    xs, s0 = torch.randn(3, 2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    torch.testing.assert_close(run_cell(cell, xs, s0), slow_rhn(cell, xs, s0, lambda v: 0.5 * v))


def test_shut_transform_gate_carries_state_unchanged() -> None:
    torch.manual_seed(7)
    cell = RecurrentHighwayCell(3, 4, depth=2, gate_bias=float("-inf"))
    s0 = torch.randn(2, 4)
    out = run_cell(cell, torch.randn(5, 2, 3), s0)
    torch.testing.assert_close(out[-1], s0, rtol=0, atol=0)


def test_init() -> None:
    torch.manual_seed(8)
    H = 5
    cell = RecurrentHighwayCell(3, H, depth=2, coupled=False, gate_bias=-2.5)
    assert cell.weight_ih.shape == (3 * H, 3)
    assert cell.weight_hh.shape == (2, 3 * H, H) and cell.bias_hh.shape == (2, 3 * H)
    assert torch.all(cell.bias_hh[:, H : 2 * H] == -2.5)
    assert torch.all(cell.bias_hh[:, 2 * H :] == 2.5)
    bound = 1.0 / math.sqrt(H)
    assert cell.weight_ih.abs().max() <= bound and cell.bias_hh[:, :H].abs().max() <= bound


@pytest.mark.parametrize("coupled", [True, False])
def test_gradcheck_several_steps(coupled: bool) -> None:
    torch.manual_seed(9)
    cell = RecurrentHighwayCell(2, 3, depth=2, coupled=coupled).double()
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    s0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def fn(xs, s, *ps):
        named = dict(zip(names, ps, strict=True))
        outs = []
        for x in xs:
            h, s = functional_call(cell, named, (x, s))
            outs.append(h)
        return torch.stack(outs)

    assert torch.autograd.gradcheck(fn, (xs, s0, *params))


@pytest.mark.parametrize(
    ("D", "H", "L", "coupled"), [(1, 1, 1, True), (5, 7, 3, True), (4, 2, 5, False)]
)
def test_num_parameters(D: int, H: int, L: int, coupled: bool) -> None:
    cell = RecurrentHighwayCell(D, H, depth=L, coupled=coupled)
    K = 2 if coupled else 3
    assert cell.num_parameters() == K * H * (D + L * (H + 1))
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"depth": 0}, "depth.*0"),
        ({"depth": -2}, "depth.*-2"),
        ({"depth": 2.5}, "depth.*2.5"),
        ({"depth": True}, "depth.*True"),
        ({"coupled": "yes"}, "coupled.*'yes'"),
        ({"gate_bias": float("nan")}, "gate_bias.*nan"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        RecurrentHighwayCell(3, 4, **kwargs)


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="hidden_size.*0"):
        RecurrentHighwayCell(3, 0)
