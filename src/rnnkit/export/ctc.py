"""The CTC recogniser's acoustic/visual model: ``(images, widths) -> (log_probs, lengths)``.

Decoding (best path, prefix beam search, an LM) stays in Python (:mod:`rnnkit.decoding.ctc`):
the graph gives the per-frame log-probabilities it reads.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.export.graph import Graph, with_padded_layers


def ctc_graphs(model: nn.Module) -> list[Graph]:
    """One file: ``images (B, 1, H, W)`` zero right of each width, ``widths (B,)`` ->
    ``log_probs (B, T, C)`` and ``lengths (B,)`` frames."""
    graph = with_padded_layers(model, ["rnn"])
    H = model.config.image_height
    images = torch.zeros(2, 1, H, 24)
    widths = torch.tensor([24, 16])
    dynamic = {"images": {0: "B", 3: "W"}, "widths": {0: "B"}, "log_probs": {0: "B", 1: "T"},
               "lengths": {0: "B"}}  # fmt: skip
    return [Graph(graph, (images, widths), ["images", "widths"], ["log_probs", "lengths"],
                  dynamic)]  # fmt: skip
