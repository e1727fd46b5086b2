"""The glass box: recurrent networks in NumPy, with backpropagation through time by hand.

NumPy only (no torch): the twin of :mod:`rnnkit.cells`, tied to it only by tests that
compare outputs and every gradient with autograd, and with finite differences.

- :mod:`~rnnkit.reference.rnn`, :mod:`~rnnkit.reference.lstm`, :mod:`~rnnkit.reference.gru`:
  ``init_params``, ``forward(params, xs, h0[, c0]) -> cache`` and
  ``backward(params, cache, dhs, ...) -> grads``, in torch's parameter layout.
- :mod:`~rnnkit.reference.softmax`: the output layer ``W_hy``, ``b_y`` and softmax
  cross-entropy.
- :mod:`~rnnkit.reference.ctc`: CTC's forward–backward recursion in log space, its loss and
  gradient (the twin of :class:`rnnkit.layers.CTCLoss`).
- :mod:`~rnnkit.reference.gradcheck`: central finite differences.
- :mod:`~rnnkit.reference.char_rnn`: a complete character RNN (``python -m
  rnnkit.reference.char_rnn FILE``), after Karpathy's min-char-rnn.

See docs/glassbox.md.
"""

from rnnkit.reference import ctc, gru, lstm, rnn, softmax
from rnnkit.reference.gradcheck import max_relative_error, numerical_gradient
from rnnkit.reference.softmax import softmax_cross_entropy

__all__ = [
    "ctc",
    "gru",
    "lstm",
    "max_relative_error",
    "numerical_gradient",
    "rnn",
    "softmax",
    "softmax_cross_entropy",
]
