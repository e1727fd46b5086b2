"""Dropout masks shared by the regularizers: validation and sampling."""

from __future__ import annotations

import torch
from torch import Tensor


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """Inverted-dropout mask: 0 with probability ``p``, else ``1 / (1 - p)``.

    Drawn from torch's global generator (so ``torch.manual_seed`` makes it reproducible),
    with ``like``'s dtype and device.
    """
    keep = torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p)
    return keep.div_(1.0 - p)


def check_mask_shape(owner: str, mask: Tensor, shape: torch.Size) -> None:
    """Raise if a stored per-sequence mask does not fit the tensor it is applied to."""
    if mask.shape != shape:
        raise ValueError(
            f"{owner} holds a mask of shape {tuple(mask.shape)} but got a tensor of shape "
            f"{tuple(shape)}; call reset() between sequences, and use one object per site"
        )
