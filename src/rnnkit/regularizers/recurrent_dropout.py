"""Recurrent dropout on the candidate only (Semeniuta, Severyn & Barth, 2016)."""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.checks import check_probability
from rnnkit.regularizers.masks import check_mask_shape, dropout_mask


class RecurrentDropout(nn.Module):
    r"""Dropout on the cell's candidate update, never on the memory itself.

    Semeniuta, Severyn & Barth, "Recurrent Dropout without Memory Loss" (COLING 2016): in an
    LSTM only the candidate is dropped,

    .. math::
        c_t = f_t \odot c_{t-1} + i_t \odot (m \odot g_t)

    (in a GRU :math:`h_t = (1 - z_t) \odot (m \odot n_t) + z_t \odot h_{t-1}`), so the
    gates, the old memory and the gradient path through it are untouched. Every rnnkit cell
    passes its candidate through ``self.candidate(g)``; the module takes effect once
    installed as ``cell.candidate_dropout`` (``Recurrent(cell, recurrent_dropout=...)``
    does it). A cell without a separate candidate (the Elman RNN) never calls it.

    **Mask choice:** one mask per sequence (the paper tried per-step and per-sequence masks
    and found both work because the memory is never dropped; per-sequence is Gal's choice
    too and is cheaper). The mask :math:`m \in \{0, 1/(1-p)\}^{B \times H}` is drawn on the
    first call after :meth:`reset` and reused at every step until the next reset;
    :class:`~rnnkit.layers.Recurrent` resets at the start of every forward. In eval mode
    (or with ``p == 0``) the module is the identity.

    Args:
        p: drop probability in [0, 1).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.mask: Tensor | None = None

    def reset(self) -> None:
        """Forget the mask: the next call draws a new one."""
        self.mask = None

    def forward(self, g: Tensor) -> Tensor:
        """``m ⊙ g`` for a candidate ``g`` (B, H...) in training, ``g`` in eval."""
        if not self.training or self.p == 0.0:
            return g
        if self.mask is None:
            self.mask = dropout_mask(g.shape, self.p, g)  # (B, H...)
        check_mask_shape("RecurrentDropout", self.mask, g.shape)
        return g * self.mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
