"""PhasedLSTMCell against torch.nn.LSTMCell (gate open) and a slow loop from Neil et al. (2016)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells.phased_lstm import PhasedLSTMCell
from rnnkit.cells.state import LSTMState

D, H, B, T = 3, 4, 3, 6
F64 = torch.float64


def make_cell(r_on: float = 0.3, leak: float = 0.05) -> PhasedLSTMCell:
    torch.manual_seed(0)
    return PhasedLSTMCell(D, H, tau_range=(2.0, 8.0), r_on=r_on, leak=leak).to(F64)


def reference(
    p: dict[str, Tensor], xs: Tensor, ts: Tensor, h: Tensor, c: Tensor, *, r_on: float, alpha: float
) -> Tensor:
    """Slow loop from the paper: xs (T, B, D), ts (T, B) timestamps."""
    outs = []
    for x, t in zip(xs, ts, strict=True):
        a = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        ratio = (t[:, None] - p["shift"]) / p["tau"]  # (B, H)
        phi = ratio - torch.floor(ratio)
        k = torch.empty_like(phi)
        for b in range(phi.shape[0]):
            for j in range(H):
                v = phi[b, j]
                k[b, j] = (
                    2 * v / r_on if v < r_on / 2 else 2 - 2 * v / r_on if v < r_on else alpha * v
                )
        c = k * c_new + (1 - k) * c
        h = k * h_new + (1 - k) * h
        outs.append(h)
    return torch.stack(outs)


def run_cell(cell: nn.Module, xs: Tensor, ts: Tensor, state: LSTMState) -> Tensor:
    hs = []
    for x, t in zip(xs, ts, strict=True):
        h, state = cell(PhasedLSTMCell.with_time(x, t), state)
        hs.append(h)
    return torch.stack(hs)


@pytest.mark.parametrize("training", [True, False])
def test_matches_reference_loop_outputs_and_gradients(training: bool) -> None:
    cell = make_cell().train(training)
    torch.manual_seed(1)
    xs = torch.randn(T, B, D, dtype=F64, requires_grad=True)
    ts = torch.cumsum(torch.rand(T, B, dtype=F64) * 3, 0).requires_grad_()  # irregular times
    h0, c0 = torch.randn(B, H, dtype=F64), torch.randn(B, H, dtype=F64)
    out = run_cell(cell, xs, ts, LSTMState(h0, c0))
    params = {n: p.detach().clone().requires_grad_() for n, p in cell.named_parameters()}
    xs_ref, ts_ref = (v.detach().clone().requires_grad_() for v in (xs, ts))
    alpha = cell.leak if training else 0.0
    ref = reference(params, xs_ref, ts_ref, h0, c0, r_on=cell.r_on, alpha=alpha)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(xs.grad, xs_ref.grad)
    torch.testing.assert_close(ts.grad, ts_ref.grad)
    for name, p in cell.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_fully_open_gate_equals_torch_lstm_cell() -> None:
    """phi = r_on / 2 gives k = 1: one step is exactly torch.nn.LSTMCell, gradients included."""
    cell = make_cell(r_on=1.0)
    with torch.no_grad():
        cell.tau.fill_(4.0)
        cell.shift.fill_(1.0)
    twin = nn.LSTMCell(D, H).to(F64)
    twin.load_state_dict({k: v for k, v in cell.state_dict().items() if k not in ("tau", "shift")})
    torch.manual_seed(1)
    xs = torch.randn(T, B, D, dtype=F64, requires_grad=True)
    ts = 3.0 + 4.0 * torch.arange(T, dtype=F64)[:, None].expand(T, B)  # phi = 0.5 every step
    state = cell.initial_state(B, dtype=F64)
    out = run_cell(cell, xs, ts, state)
    xs_twin = xs.detach().clone().requires_grad_()
    hx, outs = (state.h, state.c), []
    for x in xs_twin:
        hx = twin(x, hx)
        outs.append(hx[0])
    torch.testing.assert_close(out, torch.stack(outs))
    out.sum().backward()
    torch.stack(outs).sum().backward()
    torch.testing.assert_close(xs.grad, xs_twin.grad)
    torch.testing.assert_close(cell.weight_hh.grad, twin.weight_hh.grad)
    torch.testing.assert_close(cell.bias_ih.grad, twin.bias_ih.grad)


def test_time_gate_hand_computed() -> None:
    cell = PhasedLSTMCell(D, 2, r_on=0.2, leak=0.01).to(F64)
    with torch.no_grad():
        cell.tau.copy_(torch.tensor([10.0, 4.0]))
        cell.shift.copy_(torch.tensor([0.0, 1.0]))
    t = torch.tensor([[0.5], [1.5], [5.0], [-9.5]], dtype=F64)
    # unit 0: phi = 0.05, 0.15, 0.5, 0.05; unit 1: phi = 0.875, 0.125, 0.0, 0.375
    expected_train = torch.tensor(
        [[0.5, 0.01 * 0.875], [0.5, 0.75], [0.01 * 0.5, 0.0], [0.5, 0.01 * 0.375]], dtype=F64
    )
    torch.testing.assert_close(cell.train().time_gate(t), expected_train)
    expected_eval = torch.tensor([[0.5, 0.0], [0.5, 0.75], [0.0, 0.0], [0.5, 0.0]], dtype=F64)
    torch.testing.assert_close(cell.eval().time_gate(t), expected_eval)


def test_closed_gate_leaks_in_training_and_freezes_state_in_eval() -> None:
    cell = make_cell(r_on=0.1, leak=0.05)
    with torch.no_grad():
        cell.tau.fill_(10.0)
        cell.shift.zero_()
    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    t = torch.full((B,), 36.0, dtype=F64)  # phi = 0.6: closed for every unit
    xt = PhasedLSTMCell.with_time(x, t)
    k = cell.train().time_gate(t[:, None])
    torch.testing.assert_close(k, torch.full((B, H), 0.05 * 0.6, dtype=F64))
    h_new, (_, c_new) = cell(xt, LSTMState(h, c))
    assert not torch.equal(h_new, h)  # the leak still moves the state a little
    h_new, (h_state, c_new) = cell.eval()(xt, LSTMState(h, c))
    assert torch.equal(h_new, h) and torch.equal(h_state, h) and torch.equal(c_new, c)


def test_hoisted_projection_carries_time_column() -> None:
    cell = make_cell()
    xs, ts = torch.randn(T, B, D, dtype=F64), torch.rand(T, B, dtype=F64) * 20
    gxs = cell.project_input(PhasedLSTMCell.with_time(xs, ts))  # (T, B, 4H + 1) in one call
    assert gxs.shape == (T, B, 4 * H + 1)
    torch.testing.assert_close(gxs[..., -1], ts)
    torch.testing.assert_close(gxs[..., :-1], xs @ cell.weight_ih.T + cell.bias_ih)


def test_candidate_passes_through_hook() -> None:
    cell = make_cell(r_on=1.0)
    with torch.no_grad():
        cell.tau.fill_(4.0)
        cell.shift.zero_()

    class Zero(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return torch.zeros_like(g)

    cell.candidate_dropout = Zero()
    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    _, (_, c_new) = cell(PhasedLSTMCell.with_time(x, torch.full((B,), 2.0)), LSTMState(h, c))
    f = (x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh)[:, H : 2 * H]
    torch.testing.assert_close(c_new, torch.sigmoid(f) * c)  # k = 1, candidate dropped


def test_with_time_shapes() -> None:
    x = torch.randn(2, 5, D)
    for t in (torch.arange(10.0).reshape(2, 5), torch.arange(10.0).reshape(2, 5, 1)):
        out = PhasedLSTMCell.with_time(x, t)
        assert out.shape == (2, 5, D + 1)
        torch.testing.assert_close(out[..., -1], torch.arange(10.0).reshape(2, 5))
        torch.testing.assert_close(out[..., :D], x)
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        PhasedLSTMCell.with_time(x, torch.zeros(2, 4))


def test_missing_time_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="got 3"):
        make_cell()(torch.randn(B, D, dtype=F64))


def test_init() -> None:
    torch.manual_seed(0)
    cell = PhasedLSTMCell(D, 500, tau_range=(1.0, 1000.0))
    assert cell.tau.min() >= 1.0 and cell.tau.max() <= 1000.0
    log_tau = cell.tau.detach().log()
    assert abs(log_tau.mean().item() - math.log(1000.0) / 2) < 0.5  # uniform in log space
    assert torch.all(cell.shift >= 0) and torch.all(cell.shift <= cell.tau)
    assert cell.weight_hh.abs().max() <= 500**-0.5


def test_gradcheck_through_steps() -> None:
    cell = make_cell(r_on=0.5, leak=0.1).train()
    names = [n for n, _ in cell.named_parameters()]
    torch.manual_seed(2)
    xs = torch.randn(3, 2, D, dtype=F64, requires_grad=True)
    ts = (torch.cumsum(torch.rand(3, 2, dtype=F64) * 2, 0)).requires_grad_()
    h0 = torch.randn(2, H, dtype=F64, requires_grad=True)
    c0 = torch.randn(2, H, dtype=F64, requires_grad=True)
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(xs: Tensor, ts: Tensor, h0: Tensor, c0: Tensor, *ps: Tensor) -> Tensor:
        state, pd, hs = LSTMState(h0, c0), dict(zip(names, ps, strict=True)), []
        for x, t in zip(xs, ts, strict=True):
            h, state = functional_call(cell, pd, (PhasedLSTMCell.with_time(x, t), state))
            hs.append(h)
        return torch.stack(hs)

    assert torch.autograd.gradcheck(fn, (xs, ts, h0, c0, *params))


def test_num_parameters() -> None:
    cell = PhasedLSTMCell(5, 7)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"tau_range": (0.0, 10.0)}, r"\(0.0, 10.0\)"),
        ({"tau_range": (5.0, 1.0)}, r"\(5.0, 1.0\)"),
        ({"r_on": 0.0}, "0.0"),
        ({"r_on": 1.5}, "1.5"),
        ({"leak": 1.0}, "1.0"),
        ({"leak": -0.1}, "-0.1"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        PhasedLSTMCell(D, H, **kwargs)
