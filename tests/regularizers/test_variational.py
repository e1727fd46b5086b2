"""VariationalDropout: one mask per sequence, checked on its own and inside Recurrent."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Recurrent
from rnnkit.regularizers import VariationalDropout

D, H = 3, 4


def test_mask_is_shared_over_time_and_drawn_per_sequence():
    torch.manual_seed(0)
    drop = VariationalDropout(0.25)
    y = drop(torch.ones(7, 64, 10), time_dim=0)  # (T, B, F)
    for t in range(7):
        assert torch.equal(y[t], y[0])
    assert_close(y.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert 0.18 < (y[0] == 0).float().mean() < 0.32
    assert len({tuple(row.tolist()) for row in y[0]}) > 32  # sequences get their own masks
    y_batch_first = drop(torch.ones(64, 7, 10), time_dim=1)  # the same mask, (B, T, F)
    assert torch.equal(y_batch_first[:, 3], y[0])


def test_the_mask_stays_until_reset_and_must_fit():
    torch.manual_seed(1)
    drop = VariationalDropout(0.5)
    first = drop(torch.ones(8, 6))
    assert torch.equal(drop(torch.ones(8, 6)), first)
    with pytest.raises(ValueError, match=r"mask of shape \(8, 6\) but got .* \(8, 5\)"):
        drop(torch.ones(8, 5))
    drop.reset()
    assert not torch.equal(drop(torch.ones(8, 6)), first)


def test_identity_in_eval_and_at_zero():
    x = torch.randn(5, 3, 4)
    assert drop_eval(0.5)(x, time_dim=0) is x
    assert VariationalDropout(0.0)(x) is x
    with pytest.raises(ValueError, match="p must be a probability in \\[0, 1\\), got 1.0"):
        VariationalDropout(1.0)


def drop_eval(p: float) -> VariationalDropout:
    return VariationalDropout(p).eval()


def twin_of(cell: LSTMCell) -> nn.LSTM:
    twin = nn.LSTM(D, H)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(twin, f"{name}_l0").copy_(getattr(cell, name))
    return twin


def test_input_and_output_masks_inside_recurrent():
    torch.manual_seed(2)
    cell = LSTMCell(D, H)
    layer = Recurrent(cell, input_dropout=0.5, output_dropout=VariationalDropout(0.3))
    x = torch.randn(6, 5, D)
    out, (h, c) = layer(x)
    m_in, m_out = layer.input_dropout.mask, layer.output_dropout.mask  # (B, D), (B, H)
    ref_out, (ref_h, ref_c) = twin_of(cell)(x * m_in)
    assert_close(out, ref_out * m_out)
    assert_close(h, ref_h[0])  # the final state is not masked
    assert_close(c, ref_c[0])
    layer(x)
    assert not torch.equal(layer.input_dropout.mask, m_in)  # new masks per forward


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_state_dropout_masks_the_h_each_step_sees(kind):
    torch.manual_seed(3)
    cell = LSTMCell(D, H) if kind == "lstm" else GRUCell(D, H)
    torch_cell = nn.LSTMCell(D, H) if kind == "lstm" else nn.GRUCell(D, H)
    torch_cell.load_state_dict(cell.state_dict())
    layer = Recurrent(cell, state_dropout=VariationalDropout(0.5))
    x = torch.randn(6, 5, D)
    out, state = layer(x)
    mask = layer.state_dropout.mask  # (B, H)
    h = c = torch.zeros(5, H)
    for t in range(6):
        if kind == "lstm":
            h, c = torch_cell(x[t], (h * mask, c))  # c is never masked
        else:
            h = torch_cell(x[t], h * mask)
        assert_close(out[t], h)
    assert_close(state[0] if kind == "lstm" else state, h)
