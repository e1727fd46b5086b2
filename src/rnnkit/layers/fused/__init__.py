"""Fast paths for the time loop: whole-sequence fused recurrences with hand-written backward.

:class:`~rnnkit.layers.Recurrent` asks :func:`fused_unroll` first; cells registered with
:func:`register` (LSTM, peephole LSTM, LayerNorm LSTM, GRU in both reset forms) then run on
:func:`fused_lstm` / :func:`fused_gru`, everything else on the generic step loop.
:func:`disabled` turns the fast paths off in a block; :mod:`.checkpoint` holds gradient
checkpointing over time. Measurements: docs/benchmarks.md.
"""

from rnnkit.layers.fused.dispatch import (
    GRUSpec,
    LSTMSpec,
    disabled,
    fused_spec,
    fused_unroll,
    register,
)
from rnnkit.layers.fused.functions import fused_gru, fused_lstm
from rnnkit.layers.fused.gru import GRUMasks
from rnnkit.layers.fused.lstm import LSTMMasks

__all__ = [
    "GRUMasks",
    "GRUSpec",
    "LSTMMasks",
    "LSTMSpec",
    "disabled",
    "fused_gru",
    "fused_lstm",
    "fused_spec",
    "fused_unroll",
    "register",
]
