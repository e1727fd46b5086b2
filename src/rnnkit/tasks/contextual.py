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
``w_i``. Both LMs are frozen: they stay in eval mode (no dropout) and get no gradient, so a
sentence's features never change: they are computed once per sentence, under
``torch.no_grad()``, and kept (up to :data:`CACHE_BYTES`) for the next epoch and evaluation,
which run no LM for a sentence seen before.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.tasks.language_model import LanguageModel

#: Most bytes of sentence features kept between batches (UD EWT's training and dev sentences,
#: 2 x 256 units: about 0.45 GB); sentences past it are computed at every use.
CACHE_BYTES = 2**30


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
    own checkpoint. The per-sentence features are cached on the CPU, keyed by the words;
    loading weights into either LM (``load_state_dict``) empties the cache.
    """

    def __init__(self, forward_lm: LanguageModel, backward_lm: LanguageModel) -> None:
        super().__init__()
        self.forward_lm, self.backward_lm = forward_lm, backward_lm
        self.requires_grad_(False)
        self.width = forward_lm.config.hidden_size + backward_lm.config.hidden_size
        self.train(False)
        self._cache: dict[tuple[str, ...], Tensor] = {}  # words -> (n, H_f + H_b), on the CPU
        self._cached_bytes = 0
        self.register_load_state_dict_post_hook(lambda module, keys: module.clear_cache())

    def clear_cache(self) -> None:
        """Forget every sentence's features (the LMs' weights changed)."""
        self._cache.clear()
        self._cached_bytes = 0

    def train(self, mode: bool = True) -> ContextualEmbeddings:
        """The module's own flag follows ``mode``; the LMs stay in eval mode (frozen)."""
        super().train(mode)
        self.forward_lm.eval()
        self.backward_lm.eval()
        return self

    @torch.no_grad()
    def forward(self, sentences: Sequence[Sequence[str]], T: int) -> Tensor:
        """(B, T, H_f + H_b), zero past each sentence's length."""
        keys = [tuple(words) for words in sentences]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        computed = dict(zip(missing, self.compute(missing), strict=True)) if missing else {}
        for key, features in computed.items():
            if self._cached_bytes + features.nbytes <= CACHE_BYTES:
                self._cache[key] = features
                self._cached_bytes += features.nbytes
        device = self.forward_lm.embedding.weight.device
        out = torch.zeros(len(keys), T, self.width)
        for b, key in enumerate(keys):
            out[b, : len(key)] = computed[key] if key in computed else self._cache[key]
        return out.to(device)

    def compute(self, sentences: Sequence[Sequence[str]]) -> list[Tensor]:
        """Each sentence's (n, H_f + H_b) features on the CPU, both LMs run over the batch."""
        strings = [sentence_string(words) for words in sentences]
        texts = [text for text, _, _ in strings]
        fwd = lm_outputs(self.forward_lm, texts).cpu()  # (B, S, H_f)
        bwd = lm_outputs(self.backward_lm, [text[::-1] for text in texts]).cpu()  # (B, S, H_b)
        features = []
        for b, (text, starts, ends) in enumerate(strings):
            after_last = torch.tensor(ends)  # e_i
            before_first = len(text) - 1 - torch.tensor(starts)  # |s|-1-b_i
            features.append(torch.cat([fwd[b, after_last], bwd[b, before_first]], dim=-1))
        return features
