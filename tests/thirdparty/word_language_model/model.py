"""A word-level RNN language model shaped like pytorch/examples' ``word_language_model``.

Written for rnnkit's tests after the structure of ``word_language_model/model.py`` in
https://github.com/pytorch/examples (BSD-3-Clause), not copied from it: an embedding, a
recurrent module built with ``getattr(nn, rnn_type)`` (or ``nn.RNN`` with a nonlinearity
for ``RNN_TANH``/``RNN_RELU``), dropout around it, a linear decoder (optionally tied to the
embedding), and the decoder and embedding initialised *after* the recurrent module from
torch's global random stream. That order is what makes a drop-in's random-stream use
visible; ``nn`` is this module's global, so a test swaps the drop-ins in as a user editing
the script would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NONLINEARITY = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}


class RNNModel(nn.Module):
    """Embedding -> dropout -> RNN -> dropout -> linear decoder -> log-probabilities."""

    def __init__(
        self,
        rnn_type: str,
        ntoken: int,
        ninp: int,
        nhid: int,
        nlayers: int,
        dropout: float = 0.5,
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        self.ntoken, self.rnn_type, self.nhid, self.nlayers = ntoken, rnn_type, nhid, nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in NONLINEARITY:
            nonlinearity = NONLINEARITY[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        else:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.init_weights()

    def init_weights(self) -> None:
        """Uniform(-0.1, 0.1) embedding and decoder, zero decoder bias: after the RNN's init."""
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, tokens: Tensor, hidden: Tensor | tuple[Tensor, Tensor]) -> tuple:
        """tokens (T, B) -> log-probabilities (T*B, V), hidden."""
        emb = self.drop(self.encoder(tokens))  # (T, B, E)
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output))  # (T, B, V)
        return F.log_softmax(decoded.view(-1, self.ntoken), dim=1), hidden

    def init_hidden(self, bsz: int) -> Tensor | tuple[Tensor, Tensor]:
        """Zero state of the parameters' dtype and device: (h, c) for the LSTM, else h."""
        weight = next(self.parameters())
        h = weight.new_zeros(self.nlayers, bsz, self.nhid)
        return (h, weight.new_zeros(self.nlayers, bsz, self.nhid)) if self.rnn_type == "LSTM" else h


def repackage_hidden(h: Tensor | tuple) -> Tensor | tuple:
    """Detach the carried state from the previous chunk's graph."""
    return h.detach() if isinstance(h, Tensor) else tuple(repackage_hidden(v) for v in h)


def batchify(data: Tensor, bsz: int) -> Tensor:
    """A token stream (N,) -> (N // bsz, bsz) columns."""
    nbatch = data.size(0) // bsz
    return data[: nbatch * bsz].view(bsz, -1).t().contiguous()


def get_batch(source: Tensor, i: int, bptt: int) -> tuple[Tensor, Tensor]:
    """Rows i..i+bptt as input, the next rows flattened as targets."""
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].reshape(-1)


def train_epoch(model: RNNModel, data: Tensor, *, bptt: int, lr: float, clip: float) -> list:
    """One epoch of truncated BPTT with plain SGD, as the script does; the losses, per batch."""
    model.train()
    hidden, losses = model.init_hidden(data.size(1)), []
    for i in range(0, data.size(0) - 1, bptt):
        tokens, targets = get_batch(data, i, bptt)
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        output, hidden = model(tokens, hidden)
        loss = F.nll_loss(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    return losses


def evaluate(model: RNNModel, data: Tensor, *, bptt: int) -> float:
    """Mean token loss over ``data`` in eval mode."""
    model.eval()
    total, hidden = 0.0, model.init_hidden(data.size(1))
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            tokens, targets = get_batch(data, i, bptt)
            output, hidden = model(tokens, hidden)
            total += len(tokens) * F.nll_loss(output, targets).item()
    return total / (len(data) - 1)
