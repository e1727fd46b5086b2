"""Sequence layers: the time loop, stacking, bidirectional, torch drop-ins, attention, the CRF,
the CTC loss."""

from rnnkit.layers.attention import Attention
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.crf import LinearChainCRF
from rnnkit.layers.ctc import CTCLoss
from rnnkit.layers.lengths import last_outputs
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.rnn import GRU, LSTM, RNN, FusedLSTM
from rnnkit.layers.stacked import Stacked

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Attention",
    "Bidirectional",
    "CTCLoss",
    "FusedLSTM",
    "LinearChainCRF",
    "Recurrent",
    "Stacked",
    "last_outputs",
]
