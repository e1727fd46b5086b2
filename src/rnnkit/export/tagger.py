"""The tagger on padded batches: ``(words, chars, lengths) -> emission scores``.

The tagger's own character path runs each distinct spelling once (``torch.unique`` and boolean
indexing, which have no fixed-shape ONNX form); :class:`TaggerEmissions` runs the same
character BiLSTM over every word slot instead and zeroes the padding slots, which gives the
same vectors for the real words.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.data.tagging import TagBatch
from rnnkit.export.graph import Graph, with_padded_layers
from rnnkit.export.padded import ExportError


class TaggerEmissions(nn.Module):
    """``words (B, T)``, ``chars (B, T, L)``, ``lengths (B,)`` -> emissions ``(B, T, K)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = with_padded_layers(model, ["rnn", "char_words.rnn"])
        self.model.char_words.forward = self.char_vectors  # every slot, no torch.unique

    def char_vectors(self, chars: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, L) character ids -> (B, T, 2 Hc), zero at the padding slots."""
        B, T, L = chars.shape
        char_words = self.model.char_words
        present = torch.arange(T, device=chars.device) < lengths[:, None]  # (B, T)
        flat = chars.reshape(B * T, L)
        spelled = (flat > 0).sum(-1).clamp(min=1)  # a padding slot reads one pad character
        _, (h_n, _) = char_words.rnn(char_words.embedding(flat), lengths=spelled)  # (2, BT, Hc)
        vectors = torch.cat([h_n[0], h_n[1]], dim=-1).reshape(B, T, char_words.width)
        return vectors * present[..., None].to(vectors.dtype)

    def forward(self, words: Tensor, chars: Tensor, lengths: Tensor) -> Tensor:
        batch = TagBatch(words, chars, lengths, None, lengths)
        return self.model(batch)


def tagger_graphs(model: nn.Module) -> list[Graph]:
    """One file; a CRF tagger's Viterbi decoding stays outside the graph (see docs/export.md)."""
    if getattr(model, "contextual", None) is not None:  # its input is text, not padded ids
        raise ExportError("a tagger with character LMs (train tag --char-lm) has no ONNX export: "
                          "its contextual string embeddings read each sentence's text")  # fmt: skip
    words = torch.full((2, 4), 2, dtype=torch.long)
    chars = torch.full((2, 4, 3), 2, dtype=torch.long)
    lengths = torch.tensor([4, 2])
    dynamic = {
        "words": {0: "B", 1: "T"},
        "chars": {0: "B", 1: "T", 2: "L"},
        "lengths": {0: "B"},
        "emissions": {0: "B", 1: "T"},
    }
    return [
        Graph(
            TaggerEmissions(model),
            (words, chars, lengths),
            ["words", "chars", "lengths"],
            ["emissions"],
            dynamic,
        )
    ]
