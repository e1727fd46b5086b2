"""The one builder of recurrent stacks: every cell name, shapes, torch's keys, the old tables."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells import LayerNormLSTMCell, PeepholeLSTMCell, RecurrentCell
from rnnkit.layers import GRU, LSTM, RNN, FusedLSTM
from rnnkit.layers.stacks import CELLS, make_cell, recurrent_stack
from rnnkit.layers.torch_layout import parameter_names

B, T, D, H = 3, 5, 6, 4
STACKED = [name for name, kind in CELLS.items() if kind.layer is not None]
#: what the tasks' own tables built before there was one table (classifier and tagger)
OLD_TABLE = {
    "lstm": (LSTM, None),
    "gru": (GRU, None),
    "rnn": (RNN, None),
    "layer_norm_lstm": (LSTM, LayerNormLSTMCell),
    "peephole_lstm": (LSTM, PeepholeLSTMCell),
}


@pytest.mark.parametrize("cell", STACKED)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_stackable_cell_builds_and_keeps_the_shapes(cell, bidirectional):
    torch.manual_seed(0)
    stack = recurrent_stack(cell, D, H, num_layers=2, bidirectional=bidirectional, dropout=0.1)
    dirs = 2 if bidirectional else 1
    out, hidden = stack(torch.randn(B, T, D), lengths=torch.tensor([5, 3, 1]))
    h_n = hidden[0] if isinstance(hidden, tuple) else hidden
    assert out.shape == (B, T, dirs * H)
    assert h_n.shape == (2 * dirs, B, H)
    assert bool((out[2, 1:] == 0).all())  # past its length


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_builds_one_step(cell):
    options = {"memory_slots": 5, "memory_width": 3} if cell == "ntm" else {}
    step = make_cell(cell, D, H, **options)
    assert isinstance(step, RecurrentCell)
    h, _ = step(torch.randn(B, D), step.initial_state(B))
    assert h.shape == (B, H)


@pytest.mark.parametrize("cell", [n for n in STACKED if CELLS[n].native])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_native_cell_has_exactly_torchs_keys(cell, bidirectional):
    stack = recurrent_stack(cell, D, H, num_layers=2, bidirectional=bidirectional)
    assert list(stack.state_dict()) == parameter_names(2, bidirectional=bidirectional)
    twin = getattr(nn, type(stack).__name__)(D, H, num_layers=2, bidirectional=bidirectional)
    twin.load_state_dict(stack.state_dict())  # and loads both ways


@pytest.mark.parametrize("cell", list(OLD_TABLE))
@pytest.mark.parametrize("fused", [False, True])
def test_the_old_tables_checkpoints_load_and_give_the_same_outputs(cell, fused):
    layer, cell_class = OLD_TABLE[cell]
    layer = FusedLSTM if fused and layer is LSTM else layer  # the tagger's and seq2seq's rule
    options = {"num_layers": 2, "batch_first": True, "bidirectional": True, "dropout": 0.2}
    old_gru = {"fused": True} if layer is GRU else {}  # the fused kernel was GRU's default
    torch.manual_seed(0)
    old = layer(D, H, **options, **old_gru, **({"cell": cell_class} if cell_class else {}))
    torch.manual_seed(0)
    new = recurrent_stack(cell, D, H, **options, fused=fused)
    assert type(new) is type(old)
    assert list(new.state_dict()) == list(old.state_dict())
    new.load_state_dict(old.state_dict())  # strict: every key, nothing else
    x = torch.randn(B, T, D)
    torch.testing.assert_close(new.eval()(x)[0], old.eval()(x)[0], rtol=0, atol=0)


def test_options_reach_the_drop_in():
    stack = recurrent_stack("lstm", D, H, zoneout=0.1, weight_drop=0.2, recurrent_dropout=0.3)
    assert stack.zoneout == (0.1, 0.1) and stack.weight_drop.p == 0.2
    assert stack.recurrent_dropout == 0.3 and stack.dropout == 0.0  # one layer: no dropout
    assert type(recurrent_stack("gru", D, H, fused=True)) is GRU  # fused names the LSTM only
    assert recurrent_stack("gru", D, H).fused  # a task's GRU keeps the fused kernel
    assert recurrent_stack("rnn", D, H, batch_first=False).batch_first is False


def test_unknown_names_and_unstackable_cells_are_one_line_errors():
    with pytest.raises(ValueError, match=r"cell must be one of lstm, gru, .*got 'lstn'"):
        recurrent_stack("lstn", D, H)
    with pytest.raises(ValueError, match="cell 'ntm' has no recurrent stack"):
        recurrent_stack("ntm", D, H)
