"""Drop-in replacements for ``torch.nn.LSTM``, ``GRU`` and ``RNN`` with rnnkit's extras."""

from __future__ import annotations

from torch import nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.layers.dropin import DropIn


class LSTM(DropIn, nn.LSTM):
    """``torch.nn.LSTM`` (same arguments, state dict and return values) plus rnnkit's extras.

    The extra keyword options (``cell``, ``zoneout``, ``recurrent_dropout``,
    ``variational_dropout``, ``weight_drop``, ``residual``, ``merge``, ``force_generic``,
    ``checkpoint_every``, ``fused``) and ``forward(..., lengths=)`` are described in
    :class:`~rnnkit.layers.dropin.DropIn`. ``zoneout`` is a probability for h and c, or a
    pair ``(p_h, p_c)``. The generic path unrolls :class:`~rnnkit.cells.lstm.LSTMCell`
    (torch's equations and layout). ``fused=True`` is :class:`FusedLSTM`'s behaviour.

    Example:
        >>> lstm = LSTM(8, 16, num_layers=2, batch_first=True, zoneout=(0.05, 0.5))
        >>> output, (h_n, c_n) = lstm(torch.randn(4, 10, 8))  # (4, 10, 16), (2, 4, 16) x 2
    """

    def _default_cell(self, input_size: int) -> RecurrentCell:
        return LSTMCell(input_size, self.hidden_size, bias=self.bias)


class FusedLSTM(LSTM):
    """``rnnkit.LSTM`` that trains on rnnkit's fused CPU kernels, masked by lengths.

    With padded batches and ``lengths``, the native kernel packs the batch, and torch's CPU
    backward of a packed LSTM zero-fills the whole packed gate tensor at every time step (83 %
    of that backward, measured on a 2x200 BiLSTM over tagger batches); rnnkit's fused loop
    masks finished sequences instead (batch 64: 1.66x the words per second of the packed
    kernel). Inference and CUDA still take the native kernel. (``rnnkit.LSTM`` itself keeps
    the native kernel, so that it stays a drop-in for ``torch.nn.LSTM`` in every respect.)
    """

    prefer_fused_on_cpu = True


class GRU(DropIn, nn.GRU):
    """``torch.nn.GRU`` (same arguments, state dict and return values) plus rnnkit's extras.

    Options as :class:`~rnnkit.layers.dropin.DropIn`; ``zoneout`` acts on h. The generic
    path unrolls :class:`~rnnkit.cells.gru.GRUCell` with ``reset_after=True`` (torch's form).
    Given only torch's options it runs torch's kernel and trains bit for bit as
    ``torch.nn.GRU``. ``fused=True`` opts in to rnnkit's fused GRU kernel when training on
    CPU: torch's CPU GRU backward is a chain of per-step autograd ops, the fused kernel's is
    batched (a training step 1.2x to 6x as fast as torch's on a 2-core AMD EPYC, see
    docs/layers.md), equal to float rounding, not bit for bit.

    Example:
        >>> gru = GRU(8, 16, bidirectional=True, merge="sum", recurrent_dropout=0.25)
        >>> output, h_n = gru(torch.randn(10, 4, 8), lengths=torch.tensor([10, 7, 3, 1]))
        >>> fast = GRU(8, 16, num_layers=2, fused=True)  # rnnkit's fused CPU kernel
    """

    def _default_cell(self, input_size: int) -> RecurrentCell:
        return GRUCell(input_size, self.hidden_size, bias=self.bias)


class RNN(DropIn, nn.RNN):
    """``torch.nn.RNN`` (same arguments, state dict and return values) plus rnnkit's extras.

    Options as :class:`~rnnkit.layers.dropin.DropIn`; ``zoneout`` acts on h. The generic
    path unrolls :class:`~rnnkit.cells.simple_rnn.SimpleRNNCell` with the module's
    ``nonlinearity``. The Elman cell has no candidate, so ``recurrent_dropout`` needs another
    ``cell``.

    Example:
        >>> rnn = RNN(8, 16, nonlinearity="relu", weight_drop=0.3)  # native kernel
        >>> output, h_n = rnn(torch.randn(10, 4, 8))
    """

    def _default_cell(self, input_size: int) -> RecurrentCell:
        return SimpleRNNCell(
            input_size, self.hidden_size, nonlinearity=self.nonlinearity, bias=self.bias
        )
