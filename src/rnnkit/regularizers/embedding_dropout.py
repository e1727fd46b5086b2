"""Embedding dropout: whole word types dropped (Gal & Ghahramani, 2016; Merity et al., 2018)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.checks import check_probability
from rnnkit.regularizers.masks import dropout_mask


class EmbeddingDropout(nn.Module):
    r"""Drop rows of the embedding matrix: every occurrence of a dropped word becomes zero.

    Gal & Ghahramani (NeurIPS 2016, Sec. 4.2) and AWD-LSTM (Merity et al., ICLR 2018):

    .. math::
        \tilde E = \mathrm{diag}(m) \, E, \qquad m_v \in \{0, 1/(1-p)\} \text{ per word type } v

    and the tokens are looked up in :math:`\tilde E` (V, D). A new mask is drawn at each
    call (one per batch). In eval mode (or with ``p == 0``) it is the plain lookup. The
    embedding's own options (``padding_idx``, ``max_norm``, ...) are honoured.

    Args:
        p: probability of dropping a word type, in [0, 1).

    Example:
        >>> embedding = nn.Embedding(100, 32)
        >>> drop = EmbeddingDropout(0.1)
        >>> vectors = drop(embedding, tokens)  # (B, T, 32)
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_probability("p", p)

    def reset(self) -> None:
        """Nothing to forget: a new mask is drawn at every call."""

    def forward(self, embedding: nn.Embedding, tokens: Tensor) -> Tensor:
        """Look ``tokens`` (any shape) up in the row-dropped embedding: (..., D)."""
        weight = embedding.weight  # (V, D)
        if self.training and self.p > 0.0:
            weight = weight * dropout_mask((weight.shape[0], 1), self.p, weight)
        return F.embedding(
            tokens,
            weight,
            embedding.padding_idx,
            embedding.max_norm,
            embedding.norm_type,
            embedding.scale_grad_by_freq,
            embedding.sparse,
        )

    def extra_repr(self) -> str:
        return f"p={self.p}"
