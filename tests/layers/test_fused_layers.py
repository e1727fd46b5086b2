"""The fused path inside Recurrent and the drop-ins, against the step loop it replaces.

``rnnkit.layers.fused.disabled()`` makes Recurrent step through ``cell.step`` (the loop of
its docstring), so the same layer, weights and seed are run both ways. Masks of the
per-sequence regularizers (state and recurrent dropout, weight drop) are drawn in the same
order by both paths, so training runs compare exactly; per-step zoneout draws differ, so
zoneout in training is checked against its definition instead.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

from fused_cases import FUSED_CELLS
from rnnkit import layers
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.state import LSTMState
from rnnkit.layers import Recurrent
from rnnkit.layers.fused import dispatch
from rnnkit.layers.fused.dispatch import disabled, fused_spec

D, H = 4, 5
CELLS = FUSED_CELLS


def scrambled(name: str) -> nn.Module:
    cell = CELLS[name](D, H)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return cell


def both_ways(layer: Recurrent, x: Tensor, seed: int, **kwargs) -> list:
    """[(output, state fields, grads)] for the fused path and the step loop, same seed."""
    results = []
    for context in (disabled, contextlib.nullcontext):
        torch.manual_seed(seed)
        with context():
            out, state = layer(x, **kwargs)
        fields = [state] if isinstance(state, Tensor) else list(state)
        loss = (out * out.detach().sign()).sum() + sum(f.square().sum() for f in fields)
        grads = torch.autograd.grad(loss, [x, *layer.parameters()])
        results.append((out, fields, grads))
    return results


def assert_same(results: list) -> None:
    (out, fields, grads), (ref_out, ref_fields, ref_grads) = results[1], results[0]
    assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    for got, want in zip([*fields, *grads], [*ref_fields, *ref_grads], strict=True):
        assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(CELLS))
def test_regularized_layer_with_lengths_matches_step_loop(name):
    torch.manual_seed(0)
    layer = Recurrent(
        scrambled(name), reverse=True, state_dropout=0.3, recurrent_dropout=0.4, weight_drop=0.2
    )
    assert fused_spec(layer.cell) is not None
    x = torch.randn(6, 9, D, requires_grad=True)
    assert_same(both_ways(layer, x, seed=1, lengths=torch.tensor([6, 2, 5, 1, 6, 3, 4, 6, 0])))


@pytest.mark.parametrize("name", list(CELLS))
def test_eval_zoneout_matches_step_loop(name):
    torch.manual_seed(2)
    layer = Recurrent(scrambled(name), zoneout=layers.recurrent.Zoneout(0.3, p_c=0.6)).eval()
    x = torch.randn(5, 3, D, requires_grad=True)
    assert_same(both_ways(layer, x, seed=3, lengths=[5, 2, 4]))


@pytest.mark.parametrize("name", ["lstm", "layer_norm", "gru_before"])
def test_training_zoneout_is_the_step_loop_with_the_drawn_masks(name, monkeypatch):
    """The fused layer equals the step loop zoned out with the masks it drew (p_h, p_c)."""
    drawn = []

    def spy(*args):
        drawn.append(dispatch_zone(*args))
        return drawn[-1]

    dispatch_zone = dispatch._zone
    monkeypatch.setattr(dispatch, "_zone", spy)
    torch.manual_seed(4)
    cell = scrambled(name)
    layer = Recurrent(cell, zoneout=layers.recurrent.Zoneout(0.4, p_c=0.7))
    x = torch.randn(30, 6, D, requires_grad=True)
    out, _ = layer(x)
    lstm = name != "gru_before"
    z_h, z_c = (drawn[0], drawn[1]) if lstm else (drawn[0], None)
    assert abs(float(z_h.mean()) - 0.4) < 0.05
    assert z_c is None or abs(float(z_c.mean()) - 0.7) < 0.05
    prev, gx, outs = cell.initial_state(6), cell.project_input(x), []
    for t in range(30):
        _, new = cell.step(gx[t], prev)
        if lstm:
            new = LSTMState(
                torch.where(z_h[t] > 0, prev.h, new.h), torch.where(z_c[t] > 0, prev.c, new.c)
            )
            outs.append(new.h)
        else:
            new = torch.where(z_h[t] > 0, prev, new)
            outs.append(new)
        prev = new
    ref = torch.stack(outs)
    assert_close(out, ref, rtol=1e-4, atol=1e-5)
    grads = torch.autograd.grad(out.sum(), [x, *cell.parameters()])
    ref_grads = torch.autograd.grad(ref.sum(), [x, *cell.parameters()])
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_dispatch_rules():
    class MyLSTM(LSTMCell):
        pass

    class Scale(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return 0.5 * g

    assert fused_spec(LSTMCell(D, H)) is not None
    assert fused_spec(MyLSTM(D, H)) is None  # a subclass may override step
    custom = LSTMCell(D, H)
    custom.candidate_dropout = Scale()
    assert fused_spec(custom) is None  # not a RecurrentDropout: the loop must call it
    with disabled():
        assert fused_spec(LSTMCell(D, H)) is None
    layer = Recurrent(custom)
    x = torch.randn(3, 2, D)
    out, _ = layer(x)
    custom.candidate_dropout = None
    with torch.no_grad():
        g = custom.project_input(x)
        s, outs = custom.initial_state(2), []
        for t in range(3):  # the custom candidate halves tanh(g)
            h, c = s
            i, f, gg, o = (g[t] + h @ custom.weight_hh.T + custom.bias_hh).chunk(4, -1)
            c = f.sigmoid() * c + i.sigmoid() * 0.5 * gg.tanh()
            s = LSTMState(o.sigmoid() * c.tanh(), c)
            outs.append(s.h)
    assert_close(out, torch.stack(outs))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropins_on_the_fused_path_equal_torch(kind):
    torch.manual_seed(5)
    twin = getattr(nn, kind)(D, H, num_layers=2, bidirectional=True)
    fused = {"force_generic": True} if kind == "LSTM" else {"fused": True}
    mine = getattr(layers, kind)(D, H, num_layers=2, bidirectional=True, zoneout=0.0, **fused)
    mine.load_state_dict(twin.state_dict())
    x = torch.randn(7, 3, D, requires_grad=True)
    assert mine._generic_now() or mine._fused_now(x)
    out, hidden = mine(x)
    ref_out, ref_hidden = twin(x)
    assert_close(out, ref_out)
    flat = list(hidden) if kind == "LSTM" else [hidden]
    ref_flat = list(ref_hidden) if kind == "LSTM" else [ref_hidden]
    for got, want in zip(flat, ref_flat, strict=True):
        assert_close(got, want)
    grads = torch.autograd.grad(out.square().sum(), [x, *mine.parameters()])
    ref_grads = torch.autograd.grad(ref_out.square().sum(), [x, *twin.parameters()])
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want, rtol=1e-4, atol=1e-5)
