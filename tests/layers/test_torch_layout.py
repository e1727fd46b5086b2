"""The reader of torch's per-layer layout against torch.nn's own state dicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit import layers
from rnnkit.cells import LayerNormLSTMCell
from rnnkit.layers.torch_layout import (
    layer_directions,
    layer_weights,
    parameter_names,
    split_hidden,
    suffix,
)

D, H = 3, 4


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_names_are_torchs_state_dict_keys_in_order(kind, bidirectional, bias):
    torch_module = getattr(nn, kind)(D, H, num_layers=2, bidirectional=bidirectional, bias=bias)
    names = parameter_names(2, bidirectional=bidirectional, bias=bias)
    assert names == list(torch_module.state_dict())
    assert names == [name for group in torch_module._all_weights for name in group]


def test_suffix_and_order():
    assert [suffix(k, d) for k, d in layer_directions(2, True)] == [
        "_l0",
        "_l0_reverse",
        "_l1",
        "_l1_reverse",
    ]
    assert layer_directions(3, False) == [(0, 0), (1, 0), (2, 0)]


@pytest.mark.parametrize("bias", [True, False])
def test_layer_weights_are_the_modules_own_tensors(bias):
    lstm = nn.LSTM(D, H, num_layers=2, bidirectional=True, bias=bias)
    for k, d in layer_directions(2, True):
        w = layer_weights(lstm, k, d)
        assert w.weight_ih is getattr(lstm, f"weight_ih{suffix(k, d)}")
        assert w.weight_hh is getattr(lstm, f"weight_hh{suffix(k, d)}")
        if bias:
            assert w.bias_ih is getattr(lstm, f"bias_ih{suffix(k, d)}")
            assert w.bias_hh is getattr(lstm, f"bias_hh{suffix(k, d)}")
        else:
            assert w.bias_ih is None and w.bias_hh is None
    assert layer_weights(lstm, 1, 0).weight_ih.shape == (4 * H, 2 * H)  # layer 1 reads 2H


def test_a_drop_in_with_a_cell_keeps_the_suffix_rule_for_its_own_keys():
    lstm = layers.LSTM(D, H, num_layers=2, bidirectional=True, cell=LayerNormLSTMCell)
    cell_names = list(LayerNormLSTMCell(D, H).state_dict())  # weight_ih, ..., norm_c_bias
    expected = {n.replace(".", "_") + suffix(k, d) for k, d in layer_directions(2, True)
                for n in cell_names}  # fmt: skip
    assert set(lstm.state_dict()) == expected


def test_split_hidden_gives_row_i_to_the_ith_layer_direction():
    cells = [layers.LSTM(D, H)._default_cell(D) for _ in range(4)]
    h0 = torch.arange(4.0)[:, None, None].expand(4, 2, H)  # (L * dirs, B, H), row i = i
    states = split_hidden((h0, -h0), cells, bidirectional=True)
    for i, (k, d) in enumerate(layer_directions(2, True)):
        assert bool((states[k][d].h == i).all()) and bool((states[k][d].c == -i).all())
