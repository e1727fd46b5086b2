"""BatchNormLSTMCell against a slow loop written from Cooijmans et al. (2016), eq. 6-8."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells.batch_norm_lstm import BatchNormLSTMCell, BNLSTMState

D, H, B, T, L = 3, 4, 5, 4, 6
F64 = torch.float64
MOM, EPS = 0.1, 1e-5


def make_cell(max_length: int = L) -> BatchNormLSTMCell:
    torch.manual_seed(0)
    cell = BatchNormLSTMCell(D, H, max_length=max_length, momentum=MOM, eps=EPS).to(F64)
    with torch.no_grad():  # move gains and shifts off their init so they matter
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell


def reference_train(
    p: dict[str, Tensor], xs: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """Slow loop with batch statistics at each step; also returns the expected running stats."""
    stats = {f"{k}_{n}": [] for k in ("mean", "var") for n in ("ih", "hh", "c")}
    outs = []

    def bn(v: Tensor, name: str) -> Tensor:
        n = v.shape[0]
        mu = v.sum(0) / n
        var = ((v - mu) ** 2).sum(0) / n
        stats[f"mean_{name}"].append(MOM * mu.detach())
        stats[f"var_{name}"].append((1 - MOM) + MOM * var.detach() * n / (n - 1))
        return (v - mu) / torch.sqrt(var + EPS)

    for x in xs:
        a = (
            p["gamma_ih"] * bn(x @ p["weight_ih"].T, "ih")
            + p["gamma_hh"] * bn(h @ p["weight_hh"].T, "hh")
            + p["bias"]
        )
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(p["gamma_c"] * bn(c, "c") + p["beta_c"])
        outs.append(h)
    return torch.stack(outs), {k: torch.stack(v) for k, v in stats.items()}


def reference_eval(cell: BatchNormLSTMCell, x: Tensor, h: Tensor, c: Tensor, k: int) -> Tensor:
    """One eval step by hand with the running statistics of row k."""

    def bn(v: Tensor, name: str) -> Tensor:
        mu, var = getattr(cell, f"running_mean_{name}")[k], getattr(cell, f"running_var_{name}")[k]
        return (v - mu) / torch.sqrt(var + EPS)

    a = (
        cell.gamma_ih * bn(x @ cell.weight_ih.T, "ih")
        + cell.gamma_hh * bn(h @ cell.weight_hh.T, "hh")
        + cell.bias
    )
    i, f, g, o = (a[:, j * H : (j + 1) * H] for j in range(4))
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell.gamma_c * bn(c, "c") + cell.beta_c)


def run_cell(cell: nn.Module, xs: Tensor, state: BNLSTMState) -> tuple[Tensor, BNLSTMState]:
    hs = []
    for x in xs:
        h, state = cell(x, state)
        hs.append(h)
    return torch.stack(hs), state


def randomize_running_stats(cell: BatchNormLSTMCell) -> None:
    torch.manual_seed(3)
    for name in ("ih", "hh", "c"):
        getattr(cell, f"running_mean_{name}").normal_()
        getattr(cell, f"running_var_{name}").uniform_(0.5, 2.0)


def test_train_mode_matches_reference_and_updates_rows() -> None:
    cell = make_cell().train()
    torch.manual_seed(1)
    xs = torch.randn(T, B, D, dtype=F64, requires_grad=True)
    h0, c0 = torch.randn(B, H, dtype=F64), torch.randn(B, H, dtype=F64)
    out, state = run_cell(cell, xs, BNLSTMState(h0, c0, torch.zeros(B, 1, dtype=F64)))
    params = {n: p.detach().clone().requires_grad_() for n, p in cell.named_parameters()}
    xs_ref = xs.detach().clone().requires_grad_()
    ref, stats = reference_train(params, xs_ref, h0, c0)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(state.t, torch.full((B, 1), float(T), dtype=F64))
    for key, expected in stats.items():  # rows 0..T-1 updated once from init, the rest untouched
        stat, name = key.split("_")
        buf = getattr(cell, f"running_{stat}_{name}")
        torch.testing.assert_close(buf[:T], expected, msg=key)
        assert torch.all(buf[T:] == (0.0 if stat == "mean" else 1.0)), key
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(xs.grad, xs_ref.grad)
    for name, p in cell.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_eval_mode_uses_running_stats_of_each_examples_step() -> None:
    cell = make_cell().eval()
    randomize_running_stats(cell)
    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    t = torch.tensor([[0.0], [1.0], [2.0], [4.0], [2.0]], dtype=F64)  # mixed steps in one batch
    out, state = cell(x, BNLSTMState(h, c, t))
    for b, k in enumerate(t.long().flatten().tolist()):
        expected = reference_eval(cell, x[b : b + 1], h[b : b + 1], c[b : b + 1], k)
        torch.testing.assert_close(out[b : b + 1], expected)
    torch.testing.assert_close(state.t, t + 1)


def test_running_stats_of_step_t_updated_only_by_step_t() -> None:
    cell = make_cell().train()
    before = {k: v.clone() for k, v in cell.named_buffers()}
    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    cell(x, BNLSTMState(h, c, torch.full((B, 1), 2.0, dtype=F64)))
    for name, buf in cell.named_buffers():
        changed = (buf != before[name]).any(dim=1)  # (L,)
        assert changed.tolist() == [k == 2 for k in range(L)], name
    wx = x @ cell.weight_ih.T
    torch.testing.assert_close(cell.running_mean_ih[2], MOM * wx.mean(0))
    torch.testing.assert_close(cell.running_var_ih[2], (1 - MOM) + MOM * wx.var(0))


def test_steps_beyond_max_length_reuse_last_row() -> None:
    cell = make_cell(max_length=3).eval()
    randomize_running_stats(cell)
    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    out_last, _ = cell(x, BNLSTMState(h, c, torch.full((B, 1), 2.0, dtype=F64)))
    out_far, _ = cell(x, BNLSTMState(h, c, torch.full((B, 1), 9.0, dtype=F64)))
    torch.testing.assert_close(out_far, out_last)
    torch.testing.assert_close(out_last, reference_eval(cell, x, h, c, 2))
    cell.train()
    before = cell.running_mean_hh.clone()
    cell(x, BNLSTMState(h, c, torch.full((B, 1), 7.0, dtype=F64)))
    changed = (cell.running_mean_hh != before).any(dim=1)
    assert changed.tolist() == [False, False, True]


def test_masked_state_keeps_working() -> None:
    """A generic layer's torch.where(mask, new, old) broadcasts over every field, t included."""
    cell = make_cell().eval()
    state = cell.initial_state(B, dtype=F64)
    assert state.t.shape == (B, 1) and state.t.dtype == F64
    _, new = cell(torch.randn(B, D, dtype=F64), state)
    mask = torch.tensor([True, False, True, False, True]).unsqueeze(1)  # (B, 1)
    held = BNLSTMState(*(torch.where(mask, n, o) for n, o in zip(new, state, strict=True)))
    torch.testing.assert_close(held.t, mask.to(F64))
    torch.testing.assert_close(held.h[1], torch.zeros(H, dtype=F64))


def test_candidate_passes_through_hook() -> None:
    cell = make_cell().eval()

    class Zero(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return torch.zeros_like(g)

    x, h, c = (torch.randn(B, n, dtype=F64) for n in (D, H, H))
    state = BNLSTMState(h, c, torch.zeros(B, 1, dtype=F64))
    cell.candidate_dropout = Zero()
    _, new = cell(x, state)
    a = cell.gamma_ih * (x @ cell.weight_ih.T) / (1 + EPS) ** 0.5  # fresh stats: mean 0, var 1
    a = a + cell.gamma_hh * (h @ cell.weight_hh.T) / (1 + EPS) ** 0.5 + cell.bias
    torch.testing.assert_close(new.c, torch.sigmoid(a[:, H : 2 * H]) * c)  # c_t = f * c_{t-1}


def test_init() -> None:
    cell = BatchNormLSTMCell(D, H, gamma_init=0.1)
    for gamma in (cell.gamma_ih, cell.gamma_hh, cell.gamma_c):
        assert torch.all(gamma == 0.1)
    assert torch.all(cell.bias == 0) and torch.all(cell.beta_c == 0)
    assert cell.running_mean_ih.shape == (100, 4 * H) and torch.all(cell.running_var_c == 1)


@pytest.mark.parametrize("training", [False, True])
def test_gradcheck_through_steps(training: bool) -> None:
    cell = make_cell().train(training)
    randomize_running_stats(cell)
    names = [n for n, _ in cell.named_parameters()]
    torch.manual_seed(2)
    xs = torch.randn(3, 3, D, dtype=F64, requires_grad=True)
    h0 = torch.randn(3, H, dtype=F64, requires_grad=True)
    c0 = torch.randn(3, H, dtype=F64, requires_grad=True)
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(xs: Tensor, h0: Tensor, c0: Tensor, *ps: Tensor) -> tuple[Tensor, Tensor]:
        state = BNLSTMState(h0, c0, torch.zeros(3, 1, dtype=F64))
        pd, hs = dict(zip(names, ps, strict=True)), []
        for x in xs:
            h, state = functional_call(cell, pd, (x, state))
            hs.append(h)
        return torch.stack(hs), state.c

    assert torch.autograd.gradcheck(fn, (xs, h0, c0, *params))


def test_training_needs_batch_of_two() -> None:
    cell = make_cell().train()
    with pytest.raises(ValueError, match="got 1"):
        cell(torch.randn(1, D, dtype=F64))
    cell.eval()
    assert cell(torch.randn(1, D, dtype=F64))[0].shape == (1, H)


def test_num_parameters() -> None:
    cell = BatchNormLSTMCell(5, 7)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"max_length": 0}, "0"),
        ({"momentum": 1.5}, "1.5"),
        ({"eps": 0.0}, "0.0"),
        ({"gamma_init": float("inf")}, "inf"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        BatchNormLSTMCell(D, H, **kwargs)
