"""Recurrent: the time loop, checked against torch.nn.LSTM/GRU (padded, packed, reversed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.layers import Recurrent, last_outputs
from rnnkit.regularizers import RecurrentDropout, VariationalDropout

D, H = 3, 4
LENGTHS = [5, 2, 4]


def copy_weights(cell: nn.Module, twin: nn.RNNBase, sfx: str = "_l0") -> nn.Module:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(twin, name + sfx))
    return cell


def lstm_pair(dtype=torch.float32, bidirectional=False):
    torch.manual_seed(0)
    twin = nn.LSTM(D, H, bidirectional=bidirectional).to(dtype)
    forward = Recurrent(copy_weights(LSTMCell(D, H).to(dtype), twin))
    backward = None
    if bidirectional:
        cell = copy_weights(LSTMCell(D, H).to(dtype), twin, "_l0_reverse")
        backward = Recurrent(cell, reverse=True)
    return twin, forward, backward


@pytest.mark.parametrize("batch_first", [False, True])
def test_equals_torch_lstm_outputs_state_and_gradients(batch_first):
    twin, layer, _ = lstm_pair()
    layer.batch_first = batch_first
    x = torch.randn(6, 2, D, requires_grad=True)
    h0, c0 = torch.randn(1, 2, H), torch.randn(1, 2, H)
    ref_out, (ref_h, ref_c) = twin(x, (h0, c0))
    xin = x.transpose(0, 1) if batch_first else x
    out, (h, c) = layer(xin, (h0[0], c0[0]))
    out = out.transpose(0, 1) if batch_first else out
    assert_close(out, ref_out)
    assert_close(h, ref_h[0])
    assert_close(c, ref_c[0])
    grads = torch.autograd.grad((out * out).sum() + h.sum(), [x, layer.cell.weight_hh])
    ref_grads = torch.autograd.grad((ref_out * ref_out).sum() + ref_h.sum(), [x, twin.weight_hh_l0])
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want)


def test_equals_torch_gru():
    torch.manual_seed(1)
    twin = nn.GRU(D, H)
    layer = Recurrent(copy_weights(GRUCell(D, H), twin))
    x = torch.randn(5, 3, D)
    ref_out, ref_h = twin(x)
    out, h = layer(x)
    assert_close(out, ref_out)
    assert_close(h, ref_h[0])


def test_lengths_match_torch_packed_forward_and_reverse():
    twin, forward, backward = lstm_pair(bidirectional=True)
    x = torch.randn(5, 3, D)
    lengths = torch.tensor(LENGTHS)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    ref_packed, (ref_h, ref_c) = twin(packed)
    ref_out, _ = pad_packed_sequence(ref_packed, total_length=5)
    out_f, (h_f, c_f) = forward(x, lengths=lengths)
    out_b, (h_b, c_b) = backward(x, lengths=lengths)
    assert_close(out_f, ref_out[..., :H])
    assert_close(out_b, ref_out[..., H:])
    assert_close(torch.stack([h_f, h_b]), ref_h)
    assert_close(torch.stack([c_f, c_b]), ref_c)


def test_packed_input_gives_packed_output_like_torch():
    twin, _, backward = lstm_pair(bidirectional=True)
    x = torch.randn(5, 3, D)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    ref_packed, (ref_h, _) = twin(packed)
    out, (h, _) = backward(packed)
    assert torch.equal(out.batch_sizes, ref_packed.batch_sizes)
    assert torch.equal(out.sorted_indices, ref_packed.sorted_indices)
    assert torch.equal(out.unsorted_indices, ref_packed.unsorted_indices)
    assert_close(out.data, ref_packed.data[:, H:])
    assert_close(h, ref_h[1])


def test_padding_garbage_is_ignored_and_output_is_zero():
    _, layer, _ = lstm_pair()
    x = torch.randn(5, 3, D)
    noisy = x.clone()
    for b, n in enumerate(LENGTHS):
        noisy[n:, b] = 1e3 * torch.randn(5 - n, D)
    out, state = layer(x, lengths=LENGTHS)
    out2, state2 = layer(noisy, lengths=torch.tensor(LENGTHS))
    assert_close(out2, out)
    assert_close(state2.c, state.c)
    for b, n in enumerate(LENGTHS):
        assert torch.count_nonzero(out[n:, b]) == 0


def test_reverse_without_lengths_reads_the_sequence_backwards():
    twin, _, backward = lstm_pair(bidirectional=True)
    x = torch.randn(4, 2, D)
    ref_out, (ref_h, _) = twin(x)
    out, (h, _) = backward(x)
    assert_close(out, ref_out[..., H:])
    assert_close(h, ref_h[1])


def test_last_outputs_picks_each_last_valid_step():
    out = torch.randn(5, 3, 2)
    want = torch.stack([out[n - 1, b] for b, n in enumerate(LENGTHS)])
    assert torch.equal(last_outputs(out, torch.tensor(LENGTHS)), want)
    assert torch.equal(last_outputs(out.transpose(0, 1), LENGTHS, batch_first=True), want)
    assert torch.equal(last_outputs(out, None), out[-1])


@pytest.mark.parametrize("bad", [[5, 6, 1], [0, -1, 2], [5, 2], [[1, 2, 3]]])
def test_invalid_lengths_raise(bad):
    _, layer, _ = lstm_pair()
    with pytest.raises(ValueError, match="lengths"):
        layer(torch.randn(5, 3, D), lengths=bad)


def test_zero_length_keeps_the_initial_state():
    _, layer, _ = lstm_pair()
    h0, c0 = torch.randn(2, H), torch.randn(2, H)
    out, (h, c) = layer(torch.randn(3, 2, D), (h0, c0), lengths=[0, 3])
    assert torch.equal(h[0], h0[0]) and torch.equal(c[0], c0[0])
    assert torch.count_nonzero(out[:, 0]) == 0


def test_options_are_validated():
    with pytest.raises(ValueError, match="RecurrentCell"):
        Recurrent(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="reverse must be True or False, got 1"):
        Recurrent(LSTMCell(D, H), reverse=1)
    with pytest.raises(ValueError, match="input_dropout must be a VariationalDropout"):
        Recurrent(LSTMCell(D, H), input_dropout="0.1")
    drop = VariationalDropout(0.1)
    with pytest.raises(ValueError, match="separate object per site"):
        Recurrent(LSTMCell(D, H), input_dropout=drop, state_dropout=drop)


def test_recurrent_dropout_on_a_cell_without_candidate_raises():
    layer = Recurrent(SimpleRNNCell(D, H), recurrent_dropout=RecurrentDropout(0.5))
    with pytest.raises(ValueError, match="never passed a candidate"):
        layer(torch.randn(3, 2, D))


def _run(layer, x, lengths, params, h0=None, c0=None):
    """The layer with its cell's parameters replaced by ``params`` (for gradcheck)."""
    names = [f"cell.{n}" for n, _ in layer.cell.named_parameters()]
    state = None if h0 is None else (h0, c0)
    out, (h, c) = torch.func.functional_call(
        layer, dict(zip(names, params, strict=True)), (x, state), {"lengths": lengths}
    )
    return out, h, c


@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_with_lengths(reverse):
    torch.manual_seed(2)
    layer = Recurrent(LSTMCell(2, 3).double(), reverse=reverse)
    x, h0, c0 = (
        torch.randn(*s, dtype=torch.float64, requires_grad=True)
        for s in [(4, 3, 2), (3, 3), (3, 3)]
    )
    params = tuple(p.detach().requires_grad_() for p in layer.cell.parameters())
    lengths = torch.tensor([4, 1, 3])
    assert torch.autograd.gradcheck(
        lambda *a: _run(layer, a[0], lengths, a[3:], a[1], a[2]), (x, h0, c0, *params)
    )
