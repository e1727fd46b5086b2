"""Recurrent cells: one time step each, ``cell(x_t, state) -> (h_t, state)``.

See docs/cells.md for the table of cells, papers and equations.
"""

from rnnkit.cells.attention_decoder import AttentionDecoderCell, AttentionState
from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.batch_norm_lstm import BatchNormLSTMCell, BNLSTMState
from rnnkit.cells.conv_gru import ConvGRUCell
from rnnkit.cells.conv_lstm import ConvLSTMCell
from rnnkit.cells.echo_state import EchoStateCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.highway import Highway
from rnnkit.cells.indrnn import IndRNNCell
from rnnkit.cells.layer_norm_gru import LayerNormGRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.leaky_rnn import LeakyRNNCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.min_gru import MinGRU
from rnnkit.cells.min_lstm import MinLSTM
from rnnkit.cells.ntm import NTMCell, NTMState
from rnnkit.cells.original_lstm import OriginalLSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.cells.phased_lstm import PhasedLSTMCell
from rnnkit.cells.recurrent_highway import RecurrentHighwayCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.cells.state import (
    LSTMState,
    State,
    detach_state,
    flatten_state,
    map_state,
    reorder_state,
    state_output,
    unflatten_state,
)

__all__ = [
    "AttentionDecoderCell",
    "AttentionState",
    "BNLSTMState",
    "BatchNormLSTMCell",
    "ConvGRUCell",
    "ConvLSTMCell",
    "EchoStateCell",
    "GRUCell",
    "Highway",
    "IndRNNCell",
    "LSTMCell",
    "LSTMState",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "LeakyRNNCell",
    "MinGRU",
    "MinLSTM",
    "NTMCell",
    "NTMState",
    "OriginalLSTMCell",
    "PeepholeLSTMCell",
    "PhasedLSTMCell",
    "RecurrentCell",
    "RecurrentHighwayCell",
    "SimpleRNNCell",
    "State",
    "detach_state",
    "flatten_state",
    "map_state",
    "reorder_state",
    "state_output",
    "unflatten_state",
]
