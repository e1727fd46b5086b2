"""Activation regularisation (AR) and temporal activation regularisation (TAR).

Merity, McCann & Socher, "Revisiting Activation Regularization for Language RNNs" (2017),
as used by AWD-LSTM (Merity, Keskar & Socher, ICLR 2018):

.. math::
    \\mathrm{AR} = \\alpha \\, \\mathrm{mean}\\big((m \\odot h_t)^2\\big), \\qquad
    \\mathrm{TAR} = \\beta \\, \\mathrm{mean}\\big((h_t - h_{t-1})^2\\big)

over the last layer's outputs h (B, T, H): AR on the dropped-out outputs :math:`m \\odot h_t`
(what the output layer sees; large activations are penalised), TAR on the raw ones (slowly
changing states are preferred). Both are added to the training loss only.
"""

from __future__ import annotations

from torch import Tensor


def activation_penalty(dropped: Tensor, raw: Tensor, *, alpha: float, beta: float) -> Tensor:
    """``alpha * mean(dropped^2) + beta * mean((raw[:, 1:] - raw[:, :-1])^2)``; (B, T, H) in."""
    penalty = dropped.new_zeros(())
    if alpha:
        penalty = penalty + alpha * dropped.pow(2).mean()
    if beta and raw.shape[1] > 1:
        penalty = penalty + beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
    return penalty
