"""Fast paths for the time loop: whole-sequence fused recurrences with hand-written backward."""

from rnnkit.layers.fused.functions import fused_gru, fused_lstm
from rnnkit.layers.fused.gru import GRUMasks
from rnnkit.layers.fused.lstm import LSTMMasks

__all__ = ["GRUMasks", "LSTMMasks", "fused_gru", "fused_lstm"]
