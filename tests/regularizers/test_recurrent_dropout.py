"""RecurrentDropout: only the candidate is dropped, one mask per sequence."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Recurrent
from rnnkit.regularizers import RecurrentDropout

D, H = 3, 4


def test_lstm_candidate_only_against_the_equations():
    torch.manual_seed(0)
    cell = LSTMCell(D, H)
    layer = Recurrent(cell, recurrent_dropout=RecurrentDropout(0.5))
    assert cell.candidate_dropout is layer.cell.candidate_dropout
    x = torch.randn(6, 5, D)
    out, (h_n, c_n) = layer(x)
    m = cell.candidate_dropout.mask  # (B, H)
    W_ih, W_hh, b = cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh
    h = c = torch.zeros(5, H)
    for t in range(6):
        i, f, g, o = (x[t] @ W_ih.T + h @ W_hh.T + b).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * (m * torch.tanh(g))
        h = torch.sigmoid(o) * torch.tanh(c)
        assert_close(out[t], h)
    assert_close(h_n, h)
    assert_close(c_n, c)


def test_gru_candidate_only_against_the_equations():
    torch.manual_seed(1)
    cell = GRUCell(D, H)
    layer = Recurrent(cell, recurrent_dropout=0.4)
    x = torch.randn(6, 5, D)
    out, _ = layer(x)
    m = cell.candidate_dropout.mask
    h = torch.zeros(5, H)
    for t in range(6):
        xr, xz, xn = (x[t] @ cell.weight_ih.T + cell.bias_ih).chunk(3, dim=-1)
        hr, hz, hn = (h @ cell.weight_hh.T + cell.bias_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * (m * n) + z * h
        assert_close(out[t], h)


def test_mask_per_sequence_until_reset():
    torch.manual_seed(2)
    drop = RecurrentDropout(0.5)
    first = drop(torch.ones(16, 8))
    assert torch.equal(drop(torch.ones(16, 8)), first)  # the next step reuses it
    assert_close(first.unique(), torch.tensor([0.0, 2.0]))
    drop.reset()
    assert not torch.equal(drop(torch.ones(16, 8)), first)
    with pytest.raises(ValueError, match="mask of shape"):
        drop(torch.ones(16, 9))


def test_eval_is_torchs_lstm():
    torch.manual_seed(3)
    cell = LSTMCell(D, H)
    twin = nn.LSTM(D, H)
    twin.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    layer = Recurrent(cell, recurrent_dropout=0.5).eval()
    x = torch.randn(5, 2, D)
    assert_close(layer(x)[0], twin(x)[0])
    assert cell.candidate_dropout.mask is None
