"""Variational dropout: one mask per sequence, shared over time (Gal & Ghahramani, 2016)."""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.checks import check_probability
from rnnkit.regularizers.masks import check_mask_shape, dropout_mask


class VariationalDropout(nn.Module):
    r"""Dropout whose mask is sampled once per sequence and reused at every time step.

    Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent
    Neural Networks" (NeurIPS 2016): for a sequence batch, draw one mask
    :math:`m \in \{0, 1/(1-p)\}^{B \times F}` (each entry 0 with probability ``p``) and use

    .. math::
        \tilde x_t = m \odot x_t \quad \text{for every } t

    An object owns ONE mask, so use one object per site (inputs, outputs, the recurrent
    state h). The mask is drawn on the first call after :meth:`reset` with that call's shape
    (batch and features), dtype and device; later calls must have the same shape.
    :class:`~rnnkit.layers.Recurrent` calls ``reset()`` at the start of every forward.
    In eval mode (or with ``p == 0``) the module is the identity and draws nothing.

    Args:
        p: drop probability in [0, 1).

    Example:
        >>> drop = VariationalDropout(0.5)
        >>> x = torch.ones(7, 3, 4)  # (T, B, F)
        >>> y = drop(x, time_dim=0)  # the same (B, F) mask at each of the 7 steps
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.mask: Tensor | None = None

    def reset(self) -> None:
        """Forget the mask: the next call draws a new one."""
        self.mask = None

    def forward(self, x: Tensor, *, time_dim: int | None = None) -> Tensor:
        """Apply the mask to one step ``x`` (B, ...) or, with ``time_dim``, to every step.

        Args:
            x: a step (B, F...) or a sequence with a time dimension ``time_dim``.
            time_dim: the dimension of ``x`` the mask is shared over (None: ``x`` is a step).
        """
        if not self.training or self.p == 0.0:
            return x
        shape = x.shape if time_dim is None else x.shape[:time_dim] + x.shape[time_dim + 1 :]
        if self.mask is None:
            self.mask = dropout_mask(shape, self.p, x)  # (B, F...)
        check_mask_shape("VariationalDropout", self.mask, shape)
        mask = self.mask if time_dim is None else self.mask.unsqueeze(time_dim)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
