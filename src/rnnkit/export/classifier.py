"""The sequence classifier on padded batches with lengths: ``(tokens, lengths) -> logits``."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.export.graph import Graph, with_padded_layers


def classifier_graphs(model: nn.Module) -> list[Graph]:
    """One file: ``tokens (B, T)`` 0-padded, ``lengths (B,)`` -> ``logits (B, C)``."""
    graph = with_padded_layers(model, ["rnn"])
    tokens = torch.ones(2, 5, dtype=torch.long)
    lengths = torch.tensor([5, 3])
    dynamic = {"tokens": {0: "B", 1: "T"}, "lengths": {0: "B"}, "logits": {0: "B"}}
    return [Graph(graph, (tokens, lengths), ["tokens", "lengths"], ["logits"], dynamic)]
