"""A fast decoding step for :class:`~rnnkit.tasks.LanguageModel`: what ``rnnkit sample`` runs.

``model.step`` runs the whole module for every token: the drop-in layer's checks, torch's
multi-layer kernel over a sequence of length 1, the state stacked to (L, B, H) and split again.
At batch 1 that overhead and reading the weights are all a token costs. :class:`LMStep` computes
the same log-probabilities with torch's one-step cell ops (``torch.lstm_cell``, ``gru_cell``,
``rnn_tanh_cell``, ``rnn_relu_cell``: the matrix products and the gates in one call per layer)
and hoists the first layer's input projection out of the loop: for a small vocabulary the rows
``table[v] = W_ih0 e_v + b_ih0`` of every symbol are computed once, a (V, G) table (G = 4H, 3H or
H), so a step reads one row instead of multiplying the embedding by W_ih0.

:func:`lm_step` gives it where it applies and ``model.step`` otherwise: in training mode, with
zoneout or another cell (rnnkit's loop), bidirectional or projected layers, an output layer other
than one ``proj`` Linear (the adaptive softmax), or when a probe step disagrees with
``model.step``. Its state is one cell state per layer in the cells' layout (batch dim 0):
``LSTMState(h, c)`` (each (B, H)) for the LSTM, ``h`` for GRU and RNN, so
:func:`rnnkit.cells.state.reorder_state` and every decoder of :mod:`rnnkit.decoding` take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.state import LSTMState
from rnnkit.decoding.sampling import computing
from rnnkit.decoding.step import Step
from rnnkit.layers.torch_layout import layer_weights

#: torch's one-step op per ``nn.RNNBase.mode``: ``op(x, state, w_ih, w_hh, b_ih, b_hh)``
CELL_OPS: dict[str, Callable[..., Any]] = {
    "LSTM": torch.lstm_cell,
    "GRU": torch.gru_cell,
    "RNN_TANH": torch.rnn_tanh_cell,
    "RNN_RELU": torch.rnn_relu_cell,
}
#: largest first-layer table hoisted (a character model's is 65 x 1024 floats, 0.3 MB; a
#: 33k-word model's would be 130 MB, and its rows no cheaper to read than the product)
TABLE_BYTES = 32 * 2**20
#: batch x hidden size up to which generation runs on one thread: such a step is a few
#: matrix-vector products, bound by reading the weights, and a second thread only spins
SMALL_WORK = 8192
#: steps of the probe that checks :class:`LMStep` against ``model.step`` (every one compared)
PROBE_STEPS = 3

Weights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]  # w_ih, w_hh, b_ih, b_hh


def lm_step(model: nn.Module) -> Step:
    """The fastest step that computes ``model.step``'s log-probs: :class:`LMStep` or the model's.

    The state is whatever the returned step returns; start from ``None``.
    """
    if not LMStep.applies(model):
        return model.step
    fast = LMStep(model)
    return fast if fast.agrees_with(model.step) else model.step


def generation_threads(batch_size: int, hidden_size: int) -> int | None:
    """1 for small steps (see ``SMALL_WORK``), None (torch's default) for larger ones."""
    return 1 if batch_size * hidden_size <= SMALL_WORK else None


class LMStep:
    """``model.step`` on torch's cell ops, the first layer's input projection hoisted.

    ``step(tokens (B,), state) -> ((B, V) log-probs, state)``. It reads the model's weights
    when built (the table is a snapshot): build it again after they change.
    """

    def __init__(self, model: nn.Module) -> None:
        rnn = model.rnn
        self.cell = CELL_OPS[rnn.mode]
        self.lstm = rnn.mode == "LSTM"
        self.hidden_size = rnn.hidden_size
        self.layers = [detached(layer_weights(rnn, k)) for k in range(rnn.num_layers)]
        self.embedding = model.embedding.weight.detach()  # (V, E)
        self.proj_weight = model.proj.weight.detach()  # (V, H)
        self.proj_bias = None if model.proj.bias is None else model.proj.bias.detach()
        self.table = input_table(self.embedding, *self.layers[0][::2])  # (V, G) or None
        if self.table is not None:  # layer 0 gets no x: its input part is the table row
            self.no_weight = self.table.new_empty(self.table.shape[1], 0)  # (G, 0)

    @staticmethod
    def applies(model: nn.Module) -> bool:
        """Whether the model is embedding -> plain LSTM/GRU/RNN stack -> Linear, in eval."""
        rnn = getattr(model, "rnn", None)
        embedding = getattr(model, "embedding", None)
        return (
            not model.training
            and isinstance(embedding, nn.Embedding)
            and embedding.max_norm is None
            and isinstance(getattr(model, "proj", None), nn.Linear)
            and isinstance(rnn, nn.RNNBase)
            and rnn.mode in CELL_OPS
            and not rnn.bidirectional
            and rnn.proj_size == 0
            and not getattr(rnn, "_structural", False)  # zoneout, another cell, residual
            and getattr(rnn, "_torch_layout", True)
        )

    def __call__(self, tokens: Tensor, state: Any = None) -> tuple[Tensor, tuple]:
        """(B,) tokens, per-layer states (None: zeros) -> ((B, V) log-probs, per-layer states)."""
        if state is None:
            state = self.initial_state(tokens.shape[0])
        new = []
        for k, ((w_ih, w_hh, b_ih, b_hh), s) in enumerate(zip(self.layers, state, strict=True)):
            if k == 0:
                x, w_ih, b_ih = self.first_input(tokens)
            s = self.cell(x, s, w_ih, w_hh, b_ih, b_hh)
            s = LSTMState(*s) if self.lstm else s
            new.append(s)
            x = s[0] if self.lstm else s  # (B, H)
        logits = nn.functional.linear(x, self.proj_weight, self.proj_bias)  # (B, V)
        return logits.log_softmax(-1), tuple(new)

    def first_input(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Layer 0's ``(x, w_ih, b_ih)`` for the cell op.

        With the table: an empty x (B, 0) and its (G, 0) weight, so the op's ``x W_ih^T + b_ih``
        is ``table[tokens]`` (B, G). Without: the embeddings (B, E), W_ih0 and b_ih0.
        """
        if self.table is None:
            w_ih, _, b_ih, _ = self.layers[0]
            return self.embedding.index_select(0, tokens), w_ih, b_ih
        rows = self.table.index_select(0, tokens)  # (B, G)
        return self.table.new_empty(tokens.shape[0], 0), self.no_weight, rows

    def initial_state(self, batch_size: int) -> tuple:
        """Zeros for every layer: ``LSTMState(h, c)`` or ``h``, each (B, H)."""
        zeros = self.embedding.new_zeros
        H = self.hidden_size
        if self.lstm:
            return tuple(LSTMState(zeros(batch_size, H), zeros(batch_size, H)) for _ in self.layers)
        return tuple(zeros(batch_size, H) for _ in self.layers)

    def agrees_with(self, step: Step, *, tolerance: float = 1e-4, steps: int = PROBE_STEPS) -> bool:
        """Whether every one of ``steps`` steps from zeros gives ``step``'s log-probs (within
        ``tolerance``), each side carrying its own state: the first step alone cannot show
        a state that is carried wrongly.

        Batch 4 on one thread: small work, where a second thread would only spin.
        """
        tokens = torch.arange(min(4, self.embedding.shape[0]), device=self.embedding.device)
        ours = theirs = None
        with computing(1):
            for t in range(steps):
                fed = tokens.roll(t)  # other tokens at each step
                (a, ours), (b, theirs) = self(fed, ours), step(fed, theirs)
                if a.shape != b.shape or not torch.allclose(a, b, rtol=tolerance, atol=tolerance):
                    return False
        return True


def detached(weights: tuple[Tensor | None, ...]) -> Weights:
    """A layer's ``(w_ih, w_hh, b_ih, b_hh)`` detached (a missing bias stays None)."""
    w_ih, w_hh, b_ih, b_hh = (None if t is None else t.detach() for t in weights)
    return w_ih, w_hh, b_ih, b_hh


def input_table(embedding: Tensor, w_ih: Tensor, b_ih: Tensor | None) -> Tensor | None:
    """``embedding @ w_ih^T + b_ih`` (V, G), or None where it is too large or not on the CPU.

    Only on the CPU: the CUDA cell ops take a (G,) input bias, not these (B, G) rows.
    """
    V, G = embedding.shape[0], w_ih.shape[0]
    if embedding.device.type != "cpu" or V * G * embedding.element_size() > TABLE_BYTES:
        return None
    table = embedding @ w_ih.T  # (V, G)
    return table if b_ih is None else table + b_ih
