"""Stacked: against multi-layer torch.nn.LSTM and hand-wired torch layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked

D, H = 3, 4
LENGTHS = torch.tensor([5, 2, 4])


def copy_weights(cell: nn.Module, twin: nn.RNNBase, sfx: str) -> nn.Module:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(twin, name + sfx))
    return cell


def stack_like(twin: nn.LSTM, **options) -> Stacked:
    """A Stacked with the weights of a (possibly bidirectional) multi-layer torch LSTM."""
    dirs = 2 if twin.bidirectional else 1
    layers = []
    for k in range(twin.num_layers):
        size = D if k == 0 else H * dirs
        dtype = twin.weight_hh_l0.dtype
        fwd = Recurrent(copy_weights(LSTMCell(size, H).to(dtype), twin, f"_l{k}"))
        if twin.bidirectional:
            cell = copy_weights(LSTMCell(size, H).to(dtype), twin, f"_l{k}_reverse")
            fwd = Bidirectional(fwd, Recurrent(cell, reverse=True))
        layers.append(fwd)
    return Stacked(layers, **options)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_equals_torch_multilayer_lstm(bidirectional):
    torch.manual_seed(0)
    twin = nn.LSTM(D, H, num_layers=3, bidirectional=bidirectional)
    layer = stack_like(twin)
    x = torch.randn(5, 3, D, requires_grad=True)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    ref_packed, (ref_h, _) = twin(packed)
    ref_out, _ = pad_packed_sequence(ref_packed, total_length=5)
    out, states = layer(x, lengths=LENGTHS)
    assert_close(out, ref_out)
    flat = [s for layer_state in states for s in layer_state] if bidirectional else states
    assert_close(torch.stack([s.h for s in flat]), ref_h)
    grad = torch.autograd.grad(out.square().sum(), x)[0]
    ref_grad = torch.autograd.grad(ref_out.square().sum(), x)[0]
    assert_close(grad, ref_grad)
    out_packed, _ = layer(packed)
    assert_close(out_packed.data, ref_packed.data)


def test_residual_adds_each_layers_input_from_the_second_layer():
    torch.manual_seed(1)
    twins = [nn.LSTM(D, H), nn.LSTM(H, H), nn.LSTM(H, H)]
    layer = Stacked(
        [Recurrent(copy_weights(LSTMCell(t.input_size, H), t, "_l0")) for t in twins], residual=True
    )
    x = torch.randn(5, 3, D)
    y0 = twins[0](x)[0]
    y1 = twins[1](y0)[0] + y0
    y2 = twins[2](y1)[0] + y1
    out, _ = layer(x)
    assert_close(out, y2)


def test_residual_keeps_padding_zero():
    torch.manual_seed(2)
    layer = Stacked([Recurrent(GRUCell(H, H)) for _ in range(2)], residual=True)
    out, _ = layer(torch.randn(5, 3, H), lengths=LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        assert torch.count_nonzero(out[n:, b]) == 0


def test_dropout_acts_between_layers_before_the_residual_add():
    torch.manual_seed(3)
    twins = [nn.LSTM(H, H), nn.LSTM(H, H), nn.LSTM(H, H)]
    cells = [copy_weights(LSTMCell(H, H), t, "_l0") for t in twins]
    layer = Stacked([Recurrent(c) for c in cells], dropout=0.5, residual=True)
    x = torch.randn(5, 3, H)
    torch.manual_seed(7)
    out, _ = layer(x)
    torch.manual_seed(7)
    y0 = F.dropout(twins[0](x)[0], 0.5)
    y1 = F.dropout(twins[1](y0)[0], 0.5) + y0
    y2 = twins[2](y1)[0] + y1  # the last layer's output is not dropped
    assert_close(out, y2)
    layer.eval()
    e0 = twins[0](x)[0]
    e1 = twins[1](e0)[0] + e0
    assert_close(layer(x)[0], twins[2](e1)[0] + e1)


def test_state_round_trip_and_batch_first():
    torch.manual_seed(4)
    twin = nn.LSTM(D, H, num_layers=2, batch_first=True)
    layers = [
        Recurrent(copy_weights(LSTMCell(s, H), twin, f"_l{k}"), batch_first=True)
        for k, s in enumerate([D, H])
    ]
    layer = Stacked(layers)
    x = torch.randn(3, 5, D)
    h0, c0 = torch.randn(2, 3, H), torch.randn(2, 3, H)
    ref_out, (ref_h, ref_c) = twin(x, (h0, c0))
    out, states = layer(x, [(h0[0], c0[0]), (h0[1], c0[1])])
    assert_close(out, ref_out)
    assert_close(torch.stack([s.h for s in states]), ref_h)
    assert_close(torch.stack([s.c for s in states]), ref_c)
    with pytest.raises(ValueError, match="one entry per layer"):
        layer(x, [None])


def test_sizes_are_checked_at_construction():
    with pytest.raises(ValueError, match="layer 1 takes input_size=5 but layer 0 outputs 4"):
        Stacked([Recurrent(LSTMCell(D, H)), Recurrent(LSTMCell(5, H))])
    with pytest.raises(ValueError, match="residual .* input_size=4 and output_size=6"):
        Stacked([Recurrent(LSTMCell(D, H)), Recurrent(LSTMCell(H, 6))], residual=True)
    bi = Bidirectional(Recurrent(LSTMCell(D, H)), Recurrent(LSTMCell(D, H), reverse=True))
    with pytest.raises(ValueError, match="layer 1 takes input_size=4 but layer 0 outputs 8"):
        Stacked([bi, Recurrent(LSTMCell(H, H))])
    with pytest.raises(ValueError, match="at least one layer"):
        Stacked([])
    with pytest.raises(ValueError, match="dropout must be a probability in \\[0, 1\\), got 1.5"):
        Stacked([Recurrent(LSTMCell(D, H))], dropout=1.5)


def test_gradcheck_with_residuals_and_lengths():
    torch.manual_seed(5)
    layers = [
        Recurrent(LSTMCell(2, 3)),
        Recurrent(GRUCell(3, 3), reverse=True),
        Recurrent(LSTMCell(3, 3)),
    ]
    layer = Stacked(layers, residual=True).double()
    x = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().requires_grad_() for p in layer.parameters()]

    def f(x, *p):
        out, states = torch.func.functional_call(
            layer, dict(zip(names, p, strict=True)), (x,), {"lengths": [4, 1, 3]}
        )
        return out, states[1], states[2].c

    assert torch.autograd.gradcheck(f, (x, *params))
