r"""Contextual string embeddings (Akbik, Blythe & Vollgraf 2018) from two character LMs.

A sentence ``w_1 .. w_n`` is read as one string, the way a character LM trained on WikiText
reads a line after the line before it (each line there is `` w w ... w \n``)::

    s = "\n" + " " + w_1 + " " + w_2 + " " + ... + " " + w_n + " " + "\n"

With ``b_i`` and ``e_i`` the positions in ``s`` of word ``i``'s first and last character::

    h^f_t = the forward LM's last-layer output after reading s[0..t]
    h^b_t = the backward LM's last-layer output after reading reverse(s)[0..t]
    x_i   = [ h^f_{e_i} ; h^b_{|s| - 1 - b_i} ]                             (H_f + H_b)

so the forward half has read the sentence up to the end of ``w_i``, the backward half (an LM
trained on reversed text) everything from the end of the sentence back to the start of
``w_i``. Both LMs are frozen: they stay in eval mode (no dropout) and get no gradient, and the
features are computed once per sentence of a batch under ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.tasks.language_model import LanguageModel


def sentence_string(words: Sequence[str]) -> tuple[str, list[int], list[int]]:
    """The string ``s`` of the module docstring, and each word's first and last position."""
    text, starts, ends = "\n ", [], []
    for word in words:
        starts.append(len(text))
        text += word
        ends.append(len(text) - 1)
        text += " "
    return text + "\n", starts, ends


@torch.no_grad()
def lm_outputs(lm: LanguageModel, texts: Sequence[str]) -> Tensor:
    """(B, S, H): ``lm``'s last-layer output after each character of each text (characters it
    does not know are its unknown id). The texts are padded on the right: an LM reads left to
    right, so the padding never changes an output at a real position."""
    device = lm.embedding.weight.device
    ids = torch.zeros(len(texts), max(len(t) for t in texts), dtype=torch.long)  # (B, S)
    for b, text in enumerate(texts):
        ids[b, : len(text)] = lm.vocab.encode(text)
    out, _ = lm.features(ids.to(device))  # (B, S, H)
    return out


class ContextualEmbeddings(nn.Module):
    """Sentences (lists of words) -> (B, T, H_f + H_b) frozen features (module docstring).

    The two LMs are submodules: a tagger that holds this module saves their weights in its
    own checkpoint.
    """

    def __init__(self, forward_lm: LanguageModel, backward_lm: LanguageModel) -> None:
        super().__init__()
        self.forward_lm, self.backward_lm = forward_lm, backward_lm
        self.requires_grad_(False)
        self.width = forward_lm.config.hidden_size + backward_lm.config.hidden_size
        self.train(False)

    def train(self, mode: bool = True) -> ContextualEmbeddings:
        """The module's own flag follows ``mode``; the LMs stay in eval mode (frozen)."""
        super().train(mode)
        self.forward_lm.eval()
        self.backward_lm.eval()
        return self

    @torch.no_grad()
    def forward(self, sentences: Sequence[Sequence[str]], T: int) -> Tensor:
        """(B, T, H_f + H_b), zero past each sentence's length."""
        strings = [sentence_string(words) for words in sentences]
        texts = [text for text, _, _ in strings]
        fwd = lm_outputs(self.forward_lm, texts)  # (B, S, H_f)
        bwd = lm_outputs(self.backward_lm, [text[::-1] for text in texts])  # (B, S, H_b)
        out = fwd.new_zeros(len(texts), T, self.width)
        for b, (text, starts, ends) in enumerate(strings):
            n = len(ends)
            after_last = torch.tensor(ends, device=fwd.device)  # e_i
            before_first = len(text) - 1 - torch.tensor(starts, device=bwd.device)  # |s|-1-b_i
            out[b, :n] = torch.cat([fwd[b, after_last], bwd[b, before_first]], dim=-1)
        return out
