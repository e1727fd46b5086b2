"""Zoneout: exact eval expectation, per-unit identity in training, per-field probabilities."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit.cells.batch_norm_lstm import BNLSTMState
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.state import LSTMState
from rnnkit.layers import Recurrent
from rnnkit.regularizers import Zoneout

D, H = 3, 4


def test_eval_is_the_exact_expectation_inside_recurrent():
    torch.manual_seed(0)
    p, p_c = 0.3, 0.7
    cell = LSTMCell(D, H).double()
    torch_cell = nn.LSTMCell(D, H).double()
    torch_cell.load_state_dict(cell.state_dict())
    layer = Recurrent(cell, zoneout=Zoneout(p, p_c=p_c)).eval()
    x = torch.randn(6, 2, D, dtype=torch.float64)
    out, (h_n, c_n) = layer(x)
    h = c = torch.zeros(2, H, dtype=torch.float64)
    for t in range(6):
        h_new, c_new = torch_cell(x[t], (h, c))
        h, c = p * h + (1 - p) * h_new, p_c * c + (1 - p_c) * c_new
        assert_close(out[t], h)
    assert_close(h_n, h)
    assert_close(c_n, c)


def test_training_keeps_each_unit_old_or_new_with_its_probability():
    torch.manual_seed(1)
    zoneout = Zoneout(0.0, p_c=0.4)
    prev = LSTMState(torch.randn(50, 40), torch.randn(50, 40))
    new = LSTMState(torch.randn(50, 40), torch.randn(50, 40))
    out = zoneout(prev, new)
    assert torch.equal(out.h, new.h)  # p = 0 for h
    kept = out.c == prev.c
    assert torch.all(kept | (out.c == new.c))
    assert 0.35 < kept.float().mean() < 0.45
    assert not torch.equal(zoneout(prev, new).c, out.c)  # a fresh mask per call (per step)


def test_other_fields_come_from_the_new_state():
    zoneout = Zoneout(0.5).eval()
    prev = BNLSTMState(torch.zeros(2, H), torch.zeros(2, H), torch.zeros(2, 1))
    new = BNLSTMState(torch.ones(2, H), torch.ones(2, H), torch.ones(2, 1))
    out = zoneout(prev, new)
    assert isinstance(out, BNLSTMState)
    assert torch.equal(out.t, new.t)
    assert torch.equal(out.h, torch.full((2, H), 0.5))
    assert torch.equal(out.c, torch.full((2, H), 0.5))  # p_c defaults to p


def test_gru_step_in_training_is_the_old_or_the_new_h_per_unit():
    torch.manual_seed(2)
    cell = GRUCell(D, H)
    torch_cell = nn.GRUCell(D, H)
    torch_cell.load_state_dict(cell.state_dict())
    layer = Recurrent(cell, zoneout=0.5)
    x = torch.randn(8, 6, D)
    out, _ = layer(x)
    prev = torch.zeros(6, H)
    for t in range(8):
        new = torch_cell(x[t], prev)
        close_old = torch.isclose(out[t], prev)
        close_new = torch.isclose(out[t], new)
        assert torch.all(close_old | close_new)
        prev = out[t]


def test_probabilities_are_validated():
    with pytest.raises(ValueError, match="p must be a probability in \\[0, 1\\), got 1.2"):
        Zoneout(1.2)
    with pytest.raises(ValueError, match="p_c must be a probability in \\[0, 1\\), got -0.1"):
        Zoneout(0.1, p_c=-0.1)
