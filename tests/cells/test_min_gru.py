"""MinGRU: slow loop from the equations, parallel == sequential over 200 steps, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.cells.min_gru import MinGRU, g, log_g


def slow_min_gru(cell: MinGRU, xs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """z = sigmoid(W_z x + b_z); h~ = g(W_h x + b_h); h = (1 - z) h + z h~, written plainly."""
    H = cell.hidden_size
    W_z, W_h = cell.weight_ih[:H], cell.weight_ih[H:]
    b_z, b_h = (cell.bias_ih[:H], cell.bias_ih[H:]) if cell.bias_ih is not None else (0.0, 0.0)
    outs = []
    for x in xs:
        z = 1.0 / (1.0 + torch.exp(-(x @ W_z.T + b_z)))
        v = x @ W_h.T + b_h
        h_tilde = torch.where(v >= 0, v + 0.5, 1.0 / (1.0 + torch.exp(-v)))
        h = (1.0 - z) * h + z * h_tilde
        outs.append(h)
    return torch.stack(outs)


def sequential(cell: MinGRU, xs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
    outs = []
    for x in xs:
        out, h = cell(x, h)
        outs.append(out)
    return torch.stack(outs)


def test_g_hand_computed() -> None:
    v = torch.tensor([-1.0, 0.0, 1.0, 2.5])
    want = torch.tensor([1.0 / (1.0 + math.e), 0.5, 1.5, 3.0])
    torch.testing.assert_close(g(v), want)
    torch.testing.assert_close(log_g(v), want.log())
    far = torch.tensor([-200.0])  # log(sigmoid(-200)) underflows naively; log_g stays finite
    assert torch.log(torch.sigmoid(far)).isinf().all()
    torch.testing.assert_close(log_g(far), torch.tensor([-200.0]))


@pytest.mark.parametrize("bias", [True, False])
def test_step_and_parallel_match_slow_loop(bias: bool) -> None:
    torch.manual_seed(0)
    cell = MinGRU(3, 4, bias=bias).double()
    xs = torch.randn(7, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 4, dtype=torch.float64)
    want = slow_min_gru(cell, xs, h0)
    torch.testing.assert_close(sequential(cell, xs, h0), want)
    torch.testing.assert_close(cell.parallel(xs, h0), want)
    torch.testing.assert_close(cell.parallel(xs), slow_min_gru(cell, xs, torch.zeros(2, 4)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_h0", [False, True])
def test_parallel_equals_sequential_200_steps(dtype: torch.dtype, with_h0: bool) -> None:
    torch.manual_seed(1)
    cell = MinGRU(5, 8).to(dtype)
    with torch.no_grad():  # larger weights: gates from near 0 to near 1, long memories
        cell.weight_ih.mul_(3.0)
    xs = torch.randn(200, 3, 5, dtype=dtype, requires_grad=True)
    h0 = torch.randn(3, 8, dtype=dtype, requires_grad=True) if with_h0 else None
    seq, par = sequential(cell, xs, h0), cell.parallel(xs, h0)
    assert par.dtype == dtype and par.shape == (200, 3, 8)
    torch.testing.assert_close(par, seq, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(seq)
    wrt = [xs, *cell.parameters()] + ([h0] if with_h0 else [])
    for a, b in zip(
        torch.autograd.grad((par * weights).sum(), wrt),
        torch.autograd.grad((seq * weights).sum(), wrt),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_batch_first_and_hoisted_projection() -> None:
    torch.manual_seed(2)
    cell = MinGRU(3, 4)
    xs = torch.randn(6, 2, 3)
    par = cell.parallel(xs)
    torch.testing.assert_close(
        cell.parallel(xs.transpose(0, 1), batch_first=True), par.transpose(0, 1)
    )
    gx, h, outs = cell.project_input(xs), cell.initial_state(2), []
    assert gx.shape == (6, 2, 8)
    for t in range(6):
        out, h = cell.step(gx[t], h)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs), par)


def test_candidate_dropout_same_in_both_forms() -> None:
    cell = MinGRU(3, 4).double()
    cell.candidate_dropout = nn.Dropout(0.5)
    xs = torch.randn(20, 2, 3, dtype=torch.float64)
    torch.manual_seed(3)
    seq = sequential(cell, xs)
    torch.manual_seed(3)
    par = cell.parallel(xs)
    torch.testing.assert_close(par, seq)
    cell.eval()
    torch.testing.assert_close(cell.parallel(xs), slow_min_gru(cell, xs, torch.zeros(2, 4)))


def test_parallel_stable_with_saturated_gates() -> None:
    torch.manual_seed(4)
    cell = MinGRU(4, 6).double()
    with torch.no_grad():
        cell.weight_ih.mul_(40.0)  # pre-activations of several hundred
    xs = torch.randn(100, 2, 4, dtype=torch.float64)
    par = cell.parallel(xs)
    assert torch.isfinite(par).all()
    torch.testing.assert_close(par, sequential(cell, xs), rtol=1e-9, atol=1e-9)


class Parallel(nn.Module):
    """Routes ``forward`` to ``cell.parallel`` so functional_call can swap the parameters."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, xs: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        return self.cell.parallel(xs, h0)


def gradcheck_both_forms(cell: nn.Module, xs: torch.Tensor, h0: torch.Tensor) -> None:
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]

    def seq_fn(xs, h, *ps):
        named, outs = dict(zip(names, ps, strict=True)), []
        for x in xs:
            out, h = functional_call(cell, named, (x, h))
            outs.append(out)
        return torch.stack(outs)

    parallel = Parallel(cell)

    def par_fn(xs, h, *ps):
        named = {f"cell.{n}": p for n, p in zip(names, ps, strict=True)}
        return functional_call(parallel, named, (xs, h))

    assert torch.autograd.gradcheck(seq_fn, (xs, h0, *params))
    assert torch.autograd.gradcheck(par_fn, (xs, h0, *params))


def test_gradcheck_float64_both_forms() -> None:
    torch.manual_seed(5)
    cell = MinGRU(2, 3).double()
    xs = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    gradcheck_both_forms(cell, xs, h0)


@pytest.mark.parametrize(("D", "H", "bias"), [(1, 1, True), (5, 7, True), (6, 3, False)])
def test_num_parameters(D: int, H: int, bias: bool) -> None:
    cell = MinGRU(D, H, bias=bias)
    assert cell.num_parameters() == 2 * H * (D + (1 if bias else 0))
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="bias.*'yes'"):
        MinGRU(3, 4, bias="yes")
    with pytest.raises(ValueError, match="hidden_size.*-1"):
        MinGRU(3, -1)
    cell = MinGRU(3, 4)
    with pytest.raises(ValueError, match=r"x must be \(T, B, 3\), got shape \(5, 3\)"):
        cell.parallel(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"h0 must be \(2, 4\), got \(4,\)"):
        cell.parallel(torch.randn(5, 2, 3), torch.randn(4))
