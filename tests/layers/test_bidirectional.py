"""Bidirectional: against torch.nn.LSTM(bidirectional=True) with the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Bidirectional, Recurrent

D, H = 3, 4
LENGTHS = torch.tensor([5, 2, 4])


def copy_weights(cell: nn.Module, twin: nn.RNNBase, sfx: str) -> nn.Module:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(twin, name + sfx))
    return cell


def pair(merge="concat", dtype=torch.float32, batch_first=False):
    torch.manual_seed(0)
    twin = nn.LSTM(D, H, bidirectional=True, batch_first=batch_first).to(dtype)
    forward = Recurrent(
        copy_weights(LSTMCell(D, H).to(dtype), twin, "_l0"), batch_first=batch_first
    )
    backward = Recurrent(
        copy_weights(LSTMCell(D, H).to(dtype), twin, "_l0_reverse"),
        reverse=True,
        batch_first=batch_first,
    )
    return twin, Bidirectional(forward, backward, merge=merge)


@pytest.mark.parametrize("batch_first", [False, True])
def test_concat_equals_torch_with_state_and_gradients(batch_first):
    twin, layer = pair(batch_first=batch_first)
    x = torch.randn(3, 5, D, requires_grad=True)  # (B=3, T=5) or (T=3, B=5)
    h0 = torch.randn(2, x.shape[0 if batch_first else 1], H)
    c0 = torch.randn_like(h0)
    ref_out, (ref_h, ref_c) = twin(x, (h0, c0))
    out, ((h_f, c_f), (h_b, c_b)) = layer(x, ((h0[0], c0[0]), (h0[1], c0[1])))
    assert_close(out, ref_out)
    assert_close(torch.stack([h_f, h_b]), ref_h)
    assert_close(torch.stack([c_f, c_b]), ref_c)
    params = [layer.forward_layer.cell.weight_ih, layer.backward_layer.cell.weight_hh]
    grads = torch.autograd.grad(out.square().sum(), [x, *params])
    ref = [twin.weight_ih_l0, twin.weight_hh_l0_reverse]
    ref_grads = torch.autograd.grad(ref_out.square().sum(), [x, *ref])
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want)


def test_lengths_and_packing_equal_torch_packed():
    twin, layer = pair()
    x = torch.randn(5, 3, D)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    ref_packed, (ref_h, _) = twin(packed)
    ref_out, _ = pad_packed_sequence(ref_packed, total_length=5)
    out, ((h_f, _), (h_b, _)) = layer(x, lengths=LENGTHS)
    assert_close(out, ref_out)
    assert_close(torch.stack([h_f, h_b]), ref_h)
    out_packed, _ = layer(packed)
    assert torch.equal(out_packed.batch_sizes, ref_packed.batch_sizes)
    assert_close(out_packed.data, ref_packed.data)


@pytest.mark.parametrize(
    ("merge", "combine"),
    [("sum", lambda a, b: a + b), ("mean", lambda a, b: (a + b) / 2), ("mul", lambda a, b: a * b)],
)
def test_merges_combine_the_two_directions(merge, combine):
    twin, layer = pair(merge=merge)
    x = torch.randn(5, 3, D)
    ref_packed, _ = twin(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    ref_out, _ = pad_packed_sequence(ref_packed, total_length=5)
    out, _ = layer(x, lengths=LENGTHS)
    assert_close(out, combine(ref_out[..., :H], ref_out[..., H:]))
    assert layer.output_size == H


def test_options_are_validated():
    fwd, bwd = Recurrent(LSTMCell(D, H)), Recurrent(LSTMCell(D, H), reverse=True)
    with pytest.raises(ValueError, match="merge must be one of .* got 'max'"):
        Bidirectional(fwd, bwd, merge="max")
    with pytest.raises(ValueError, match="backward_layer must have reverse=True"):
        Bidirectional(fwd, Recurrent(LSTMCell(D, H)))
    with pytest.raises(ValueError, match="forward_layer must read forward"):
        Bidirectional(bwd, bwd)
    with pytest.raises(ValueError, match=r"needs equal output sizes, got \[4, 5\]"):
        Bidirectional(fwd, Recurrent(LSTMCell(D, 5), reverse=True), merge="sum")
    with pytest.raises(ValueError, match="batch_first"):
        Bidirectional(fwd, Recurrent(LSTMCell(D, H), reverse=True, batch_first=True))
    assert Bidirectional(fwd, Recurrent(LSTMCell(D, 5), reverse=True)).output_size == 9


@pytest.mark.parametrize("merge", ["concat", "mul"])
def test_gradcheck(merge):
    torch.manual_seed(1)
    fwd, bwd = LSTMCell(2, 2).double(), LSTMCell(2, 2).double()
    layer = Bidirectional(Recurrent(fwd), Recurrent(bwd, reverse=True), merge=merge)
    x = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    weights = [fwd.weight_hh.detach().requires_grad_(), bwd.weight_hh.detach().requires_grad_()]
    lengths = torch.tensor([4, 1, 3])

    def f(x, h0, c0, w_forward, w_backward):
        tensors = {"forward_layer.cell.weight_hh": w_forward}
        tensors["backward_layer.cell.weight_hh"] = w_backward
        state = (None, (h0, c0))  # the backward direction starts from a given state
        out, ((h_f, _), (_, c_b)) = torch.func.functional_call(
            layer, tensors, (x, state), {"lengths": lengths}
        )
        return out, h_f, c_b

    assert torch.autograd.gradcheck(f, (x, h0, c0, *weights))
