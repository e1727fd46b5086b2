"""MinLSTM: hand-computed steps, slow loop, parallel == sequential over 200 steps, gradcheck."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.cells.min_lstm import MinLSTM


def slow_min_lstm(cell: MinLSTM, xs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """f, i = sigmoid(.); f' = f / (f + i); i' = i / (f + i); h = f' h + i' g(W_h x + b_h)."""
    H = cell.hidden_size
    W_f, W_i, W_h = cell.weight_ih[:H], cell.weight_ih[H : 2 * H], cell.weight_ih[2 * H :]
    if cell.bias_ih is None:
        b_f = b_i = b_h = 0.0
    else:
        b_f, b_i, b_h = cell.bias_ih[:H], cell.bias_ih[H : 2 * H], cell.bias_ih[2 * H :]
    outs = []
    for x in xs:
        f = 1.0 / (1.0 + torch.exp(-(x @ W_f.T + b_f)))
        i = 1.0 / (1.0 + torch.exp(-(x @ W_i.T + b_i)))
        v = x @ W_h.T + b_h
        h_tilde = torch.where(v >= 0, v + 0.5, 1.0 / (1.0 + torch.exp(-v)))
        h = f / (f + i) * h + i / (f + i) * h_tilde
        outs.append(h)
    return torch.stack(outs)


def sequential(cell: MinLSTM, xs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
    outs = []
    for x in xs:
        out, h = cell(x, h)
        outs.append(out)
    return torch.stack(outs)


def test_hand_computed_one_unit() -> None:
    cell = MinLSTM(1, 1)
    with torch.no_grad():  # k_f = 0, k_i = log 3, pre_h = x
        cell.weight_ih.copy_(torch.tensor([[0.0], [0.0], [1.0]]))
        cell.bias_ih.copy_(torch.tensor([0.0, torch.log(torch.tensor(3.0)), 0.0]))
    # f = 1/2, i = 3/4 -> f' = 0.4, i' = 0.6; h~ = g(x): g(1) = 1.5, g(0) = 0.5.
    xs = torch.tensor([[[1.0]], [[1.0]], [[0.0]]])
    want = torch.tensor([0.6 * 1.5, 0.4 * 0.9 + 0.9, 0.4 * 1.26 + 0.6 * 0.5]).view(3, 1, 1)
    torch.testing.assert_close(sequential(cell, xs), want)
    torch.testing.assert_close(cell.parallel(xs), want)


def test_normalised_gates_survive_underflow() -> None:
    cell = MinLSTM(1, 1)
    with torch.no_grad():  # f = e^-200, i = 3 e^-200: both 0 in float32, yet f' = 1/4, i' = 3/4
        cell.weight_ih.copy_(torch.tensor([[0.0], [0.0], [1.0]]))
        cell.bias_ih.copy_(torch.tensor([-200.0, -200.0 + torch.log(torch.tensor(3.0)), 0.0]))
    assert torch.sigmoid(cell.bias_ih[:2]).eq(0).all()
    xs, h0 = torch.tensor([[[1.0]], [[0.0]]]), torch.tensor([[2.0]])
    want = torch.tensor([0.25 * 2.0 + 0.75 * 1.5, 0.25 * 1.625 + 0.75 * 0.5]).view(2, 1, 1)
    torch.testing.assert_close(sequential(cell, xs, h0), want)
    torch.testing.assert_close(cell.parallel(xs, h0), want)


@pytest.mark.parametrize("bias", [True, False])
def test_step_and_parallel_match_slow_loop(bias: bool) -> None:
    torch.manual_seed(0)
    cell = MinLSTM(3, 4, bias=bias).double()
    xs = torch.randn(7, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 4, dtype=torch.float64)
    want = slow_min_lstm(cell, xs, h0)
    torch.testing.assert_close(sequential(cell, xs, h0), want)
    torch.testing.assert_close(cell.parallel(xs, h0), want)
    torch.testing.assert_close(cell.parallel(xs), slow_min_lstm(cell, xs, torch.zeros(2, 4)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_h0", [False, True])
def test_parallel_equals_sequential_200_steps(dtype: torch.dtype, with_h0: bool) -> None:
    torch.manual_seed(1)
    cell = MinLSTM(5, 8).to(dtype)
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
    cell = MinLSTM(3, 4)
    xs = torch.randn(6, 2, 3)
    par = cell.parallel(xs)
    torch.testing.assert_close(
        cell.parallel(xs.transpose(0, 1), batch_first=True), par.transpose(0, 1)
    )
    gx, h, outs = cell.project_input(xs), cell.initial_state(2), []
    assert gx.shape == (6, 2, 12)
    for t in range(6):
        out, h = cell.step(gx[t], h)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs), par)


def test_candidate_dropout_same_in_both_forms() -> None:
    cell = MinLSTM(3, 4).double()
    cell.candidate_dropout = nn.Dropout(0.5)
    xs = torch.randn(20, 2, 3, dtype=torch.float64)
    torch.manual_seed(3)
    seq = sequential(cell, xs)
    torch.manual_seed(3)
    torch.testing.assert_close(cell.parallel(xs), seq)


def test_parallel_stable_with_saturated_gates() -> None:
    torch.manual_seed(4)
    cell = MinLSTM(4, 6).double()
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


def test_gradcheck_float64_both_forms() -> None:
    torch.manual_seed(5)
    cell = MinLSTM(2, 3).double()
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    xs = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    parallel = Parallel(cell)

    def seq_fn(xs, h, *ps):
        named, outs = dict(zip(names, ps, strict=True)), []
        for x in xs:
            out, h = functional_call(cell, named, (x, h))
            outs.append(out)
        return torch.stack(outs)

    def par_fn(xs, h, *ps):
        named = {f"cell.{n}": p for n, p in zip(names, ps, strict=True)}
        return functional_call(parallel, named, (xs, h))

    assert torch.autograd.gradcheck(seq_fn, (xs, h0, *params))
    assert torch.autograd.gradcheck(par_fn, (xs, h0, *params))


@pytest.mark.parametrize(("D", "H", "bias"), [(1, 1, True), (5, 7, True), (6, 3, False)])
def test_num_parameters(D: int, H: int, bias: bool) -> None:
    cell = MinLSTM(D, H, bias=bias)
    assert cell.num_parameters() == 3 * H * (D + (1 if bias else 0))
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="bias.*1"):
        MinLSTM(3, 4, bias=1)
    with pytest.raises(ValueError, match="input_size.*0"):
        MinLSTM(0, 4)
    cell = MinLSTM(3, 4)
    with pytest.raises(ValueError, match=r"x must be \(T, B, 3\), got shape \(5, 2, 2\)"):
        cell.parallel(torch.randn(5, 2, 2))
    with pytest.raises(ValueError, match=r"h0 must be \(2, 4\), got \(3, 4\)"):
        cell.parallel(torch.randn(5, 2, 3), torch.randn(3, 4))
