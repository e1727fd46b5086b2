"""Fused LSTM/GRU kernels against each cell's own step loop on the same weights.

The reference is a plain loop over ``cell.step`` written here, with the masks applied the
way the docstrings of Zoneout, RecurrentDropout and Recurrent's state dropout state them.
Outputs, final states and the gradients of every parameter, the input and the initial
state are compared; ``gradcheck`` checks the hand-written backward in float64. Every test
runs twice: on the compiled step kernels and on the torch-op loops.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

from fused_cases import FixedMask
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.cells.state import LSTMState
from rnnkit.layers.fused import gemm, kernels
from rnnkit.layers.fused.functions import FusedGRU, FusedLSTM, fused_gru, fused_lstm
from rnnkit.layers.fused.lstm import LSTMMasks

D, H = 5, 7
LSTMS = {
    "lstm": LSTMCell,
    "peephole": PeepholeLSTMCell,
    "layer_norm": LayerNormLSTMCell,
    "layer_norm_no_c": functools.partial(LayerNormLSTMCell, norm_cell=False),
}


@pytest.fixture(autouse=True, params=["compiled", "torch_ops"])
def step_kernels(request, monkeypatch):
    """Run each test on the compiled kernels and on the torch-op loops."""
    if request.param == "compiled" and kernels.module is None:
        pytest.skip("the compiled kernels were not built")
    monkeypatch.setattr(kernels, "ENABLED", request.param == "compiled")
    return request.param


def scramble(cell: nn.Module) -> nn.Module:
    """Every parameter random (peepholes and LayerNorm gains are not at their init)."""
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return cell


def reference(cell, x, state, z_h=None, z_c=None, cand=None, smask=None):
    """The step loop: drop h for the step, step, zone out h and c with 0/1 masks."""
    cell.candidate_dropout = None if cand is None else FixedMask(cand)
    gx = cell.project_input(x)
    outs = []
    for t in range(x.shape[0]):
        prev = state
        seen = prev
        if smask is not None:
            seen = prev * smask if isinstance(prev, Tensor) else LSTMState(prev.h * smask, prev.c)
        h, state = cell.step(gx[t], seen)
        if isinstance(state, Tensor):
            if z_h is not None:
                state = torch.where(z_h[t].bool(), prev, state)
            h = state
        else:
            h = state.h if z_h is None else torch.where(z_h[t].bool(), prev.h, state.h)
            c = state.c if z_c is None else torch.where(z_c[t].bool(), prev.c, state.c)
            state = LSTMState(h, c)
        outs.append(h)
    cell.candidate_dropout = None
    return torch.stack(outs), state


def fused(cell, x, state, masks):
    """The same through the fused Function, the spec built by hand from the docstrings."""
    gx = cell.project_input(x)
    if isinstance(cell, GRUCell):
        return fused_gru(
            gx, state, cell.weight_hh, cell.bias_hh, reset_after=cell.reset_after, masks=masks
        )
    kw = {}
    if isinstance(cell, LayerNormLSTMCell):
        kw["bias"] = cell.bias
        kw["norm_hh"] = (cell.norm_hh.weight, cell.norm_hh.bias, cell.eps)
        if cell.norm_c is not None:
            kw["norm_c"] = (cell.norm_c.weight, cell.norm_c.bias, cell.eps)
    else:
        kw["bias"] = cell.bias_hh
    if isinstance(cell, PeepholeLSTMCell):
        kw["peephole"] = torch.stack([cell.weight_ci, cell.weight_cf, cell.weight_co])
    out, h, c = fused_lstm(gx, state.h, state.c, cell.weight_hh, masks=masks, **kw)
    return out, LSTMState(h, c)


def compare(cell, T, B, masks: LSTMMasks, dtype=torch.float32):
    """Reference vs fused: outputs, final state, gradients of inputs, state and parameters.

    In float32 both sides are about 1e-6 of each tensor's largest entry away from the
    float64 result (tanh as 2σ(2x) - 1, another summation order), so the absolute tolerance
    scales with that entry; in float64 they agree to 1e-10.
    """
    rtol, scale = (1e-4, 2e-5) if dtype == torch.float32 else (1e-10, 1e-10)
    cell.to(dtype)
    masks = LSTMMasks(*(m.to(dtype) if isinstance(m, Tensor) else m for m in vars(masks).values()))
    x = torch.randn(T, B, D, dtype=dtype, requires_grad=True)
    h0 = torch.randn(B, H, dtype=dtype, requires_grad=True)
    lstm = not isinstance(cell, GRUCell)
    c0 = torch.randn(B, H, dtype=dtype, requires_grad=True)
    state = LSTMState(h0, c0) if lstm else h0
    inputs = [x, h0, *([c0] if lstm else []), *cell.parameters()]
    results = []
    for run in (reference, fused):
        if run is reference:
            out, s = reference(
                cell, x, state, masks.zone_h, masks.zone_c, masks.candidate, masks.state
            )
        else:
            out, s = fused(cell, x, state, masks)
        fields = list(s) if lstm else [s]
        weights = torch.linspace(-1, 2, H, dtype=dtype)
        loss = (out * weights).square().sum() + sum(f.sin().sum() for f in fields)
        results.append((out, fields, torch.autograd.grad(loss, inputs)))
    (ref_out, ref_s, ref_g), (out, s, g) = results
    for got, want in zip([out, *s, *g], [ref_out, *ref_s, *ref_g], strict=True):
        assert_close(got, want, rtol=rtol, atol=scale * float(want.detach().abs().max()))


def random_masks(T: int, B: int, lstm: bool) -> LSTMMasks:
    bern = functools.partial(torch.bernoulli, torch.full((T, B, H), 0.3))
    drop = torch.bernoulli(torch.full((B, H), 0.6)) / 0.6
    return LSTMMasks(
        zone_h=bern(), zone_c=bern() if lstm else None, candidate=drop, state=drop.flip(0)
    )


@pytest.mark.parametrize("name", list(LSTMS))
@pytest.mark.parametrize("B", [3, 9])  # 9 >= MIN_PACKED_BATCH: oneDNN's packed GEMM
def test_lstm_family_matches_step_loop(name, B):
    torch.manual_seed(0)
    compare(scramble(LSTMS[name](D, H)), 6, B, LSTMMasks())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(LSTMS))
def test_lstm_family_with_all_masks_matches_step_loop(name, dtype):
    torch.manual_seed(1)
    compare(scramble(LSTMS[name](D, H)), 6, 9, random_masks(6, 9, lstm=True), dtype)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("B", [3, 9])
def test_gru_matches_step_loop(reset_after, B):
    torch.manual_seed(2)
    compare(scramble(GRUCell(D, H, reset_after=reset_after)), 6, B, LSTMMasks())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_with_all_masks_matches_step_loop(reset_after, dtype):
    torch.manual_seed(3)
    cell = scramble(GRUCell(D, H, reset_after=reset_after))
    compare(cell, 6, 9, random_masks(6, 9, lstm=False), dtype)


def test_eval_zoneout_weight_is_the_expectation():
    """A float zone weight p gives h_t = p h_{t-1} + (1 - p) h~_t (Zoneout in eval)."""
    torch.manual_seed(4)
    cell = scramble(LSTMCell(D, H))
    x, h0, c0 = torch.randn(4, 2, D), torch.randn(2, H), torch.randn(2, H)
    out, h, c = fused_lstm(
        cell.project_input(x),
        h0,
        c0,
        cell.weight_hh,
        bias=cell.bias_hh,
        masks=LSTMMasks(zone_h=0.3, zone_c=0.6),
    )
    gx, state, outs = cell.project_input(x), LSTMState(h0, c0), []
    for t in range(4):
        _, new = cell.step(gx[t], state)
        state = LSTMState(0.3 * state.h + 0.7 * new.h, 0.6 * state.c + 0.4 * new.c)
        outs.append(state.h)
    assert_close(out, torch.stack(outs))
    assert_close((h, c), tuple(state))


def test_no_grad_path_gives_the_same_values():
    torch.manual_seed(5)
    cell = scramble(LayerNormLSTMCell(D, H))
    x, state = torch.randn(5, 9, D), LSTMState(torch.randn(9, H), torch.randn(9, H))
    masks = random_masks(5, 9, lstm=True)
    with_grad = fused(cell, x, state, masks)
    with torch.no_grad():
        without = fused(cell, x, state, masks)
    assert_close(without[0], with_grad[0])
    assert_close(tuple(without[1]), tuple(with_grad[1]))


def test_packed_gemm_equals_plain_matmul(monkeypatch):
    torch.manual_seed(6)
    w, x, other = torch.randn(12, 5), torch.randn(9, 5), torch.randn(9, 12)
    bias = torch.randn(12)
    packed = gemm.StepGEMM(w, 9, bias)
    monkeypatch.setattr(gemm, "USE_PACKED", False)
    plain = gemm.StepGEMM(w, 9, bias)
    assert plain.packed is None
    assert_close(packed(x), x @ w.T + bias)
    assert_close(packed(x, other), x @ w.T + bias + other)
    assert_close(plain(x, other), x @ w.T + bias + other)
    no_bias, out = gemm.StepGEMM(w, 9), torch.empty(9, 12)
    for step in (packed, plain, no_bias):  # into a given buffer, each code path
        want = x @ w.T + (0 if step is no_bias else bias)
        assert step(x, out=out) is out
        assert_close(out, want)


def _f64(*shapes):
    return [torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in shapes]


@pytest.mark.parametrize("options", ["plain", "peephole_ln", "ln_hh_only"])
def test_gradcheck_fused_lstm(options):
    torch.manual_seed(7)
    T, B, h = 3, 2, 3
    gx, h0, c0, w, bias = _f64((T, B, 4 * h), (B, h), (B, h), (4 * h, h), (4 * h,))
    peep = g_hh = b_hh = g_c = b_c = None
    if options != "plain":
        g_hh, b_hh = _f64((4 * h,), (4 * h,))
    if options == "peephole_ln":
        peep, g_c, b_c = _f64((3, h), (h,), (h,))
    rand = torch.rand(T, B, h, dtype=torch.float64)
    masks = LSTMMasks(
        zone_h=(rand > 0.7).double(),
        zone_c=0.4,
        candidate=torch.rand(B, h, dtype=torch.float64) * 2,
        state=torch.rand(B, h, dtype=torch.float64) * 2,
    )
    every = (gx, h0, c0, w, bias, peep, g_hh, b_hh, g_c, b_c)
    inputs = [t for t in every if t is not None]

    def run(*args):
        it = iter(args)
        full = [next(it) if t is not None else None for t in every]
        return FusedLSTM.apply(*full, masks, 1e-5, 1e-5)

    assert torch.autograd.gradcheck(run, inputs)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gradcheck_fused_gru(reset_after):
    torch.manual_seed(8)
    T, B, h = 3, 2, 3
    gx, h0, w, b = _f64((T, B, 3 * h), (B, h), (3 * h, h), (3 * h,))
    rand = torch.rand(T, B, 1, dtype=torch.float64)
    masks = LSTMMasks(
        zone_h=(rand > 0.5).double(),
        candidate=torch.rand(B, h, dtype=torch.float64) * 2,
        state=torch.rand(B, h, dtype=torch.float64) * 2,
    )

    def run(*args):
        return FusedGRU.apply(*args, reset_after, masks)

    assert torch.autograd.gradcheck(run, [gx, h0, w, b])


@pytest.mark.parametrize("used", ["output", "h_T", "c_T"])
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_gradients_when_only_some_outputs_are_used(name, used):
    """Unused outputs get no gradient (None reaches backward); the rest still matches."""
    if name == "gru" and used == "c_T":
        pytest.skip("a GRU has no c")
    torch.manual_seed(9)
    cell = scramble(LSTMCell(D, H) if name == "lstm" else GRUCell(D, H))
    x = torch.randn(5, 4, D, requires_grad=True)
    h0 = torch.randn(4, H)
    state = LSTMState(h0, torch.randn(4, H)) if name == "lstm" else h0
    losses = []
    for run in (reference, fused):
        out, s = run(cell, x, state) if run is reference else run(cell, x, state, LSTMMasks())
        pick = {"output": out, "h_T": s[0] if name == "lstm" else s, "c_T": s[-1]}[used]
        losses.append(torch.autograd.grad(pick.square().sum(), [x, *cell.parameters()]))
    for got, want in zip(losses[1], losses[0], strict=True):
        assert_close(got, want, rtol=1e-4, atol=1e-5)
