r"""Connectionist temporal classification (Graves et al. 2006): a loss for unaligned sequences.

A recogniser emits, at each of ``T`` frames, a distribution over ``C`` symbols: the labels and
one *blank* ``∅``. An *alignment* ``π`` is a path of ``T`` symbols; the collapsing map ``𝓑``
merges repeated symbols and then drops blanks (``𝓑(a a ∅ a b b) = a a b``). The probability of a
label sequence ``y`` is the sum over every alignment that collapses to it::

    p(y | x) = Σ_{π : 𝓑(π) = y} Π_t p_t(π_t)          loss = -log p(y | x)

The sum runs by dynamic programming over the extended sequence ``y' = ∅ y_1 ∅ y_2 … y_U ∅``
(length ``2U + 1``); ``rnnkit.reference.ctc`` writes the forward–backward recursion out in
NumPy, and the tests tie it to this module. A sequence of ``U`` labels with ``R`` adjacent
repeats needs at least ``U + R`` frames (a blank must separate the repeats); with fewer, no
alignment exists and ``p(y | x) = 0``.

Reductions (torch's): ``"mean"`` divides each sequence's loss by its target length (at least
1) and averages over the batch; ``"sum"`` adds the losses; ``"none"`` returns them, (B,).
``zero_infinity`` gives an impossible sequence the loss 0 and no gradient instead of ``inf``.

Shapes:

================  ====================  ==============================================
argument          shape                 meaning
================  ====================  ==============================================
log_probs         (T, B, C)             log-softmax over symbols, per frame
targets           (B, S) or (ΣU,)       label ids (never the blank), padded or joined
input_lengths     (B,)                  valid frames per sequence, ≤ T
target_lengths    (B,)                  labels per sequence, ≤ S
================  ====================  ==============================================
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.checks import check_bool, check_choice, check_int

REDUCTIONS = ("mean", "sum", "none")


class CTCLoss(nn.Module):
    """``-log p(y | x)`` summed over alignments (module docstring), over ``torch``'s kernel.

    Unlike ``torch.nn.CTCLoss`` it checks its inputs first and says, in one line, which
    sequence is wrong (a label equal to the blank, lengths beyond the tensors, log-probs
    that are not normalised), instead of returning ``nan`` or failing inside the kernel.
    """

    def __init__(
        self, *, blank: int = 0, reduction: str = "mean", zero_infinity: bool = True
    ) -> None:
        super().__init__()
        self.blank = check_int("blank", blank, 0)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.zero_infinity = check_bool("zero_infinity", zero_infinity)

    def forward(
        self, log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        check_inputs(log_probs, targets, input_lengths, target_lengths, self.blank)
        return F.ctc_loss(
            log_probs, targets, input_lengths, target_lengths,
            blank=self.blank, reduction=self.reduction, zero_infinity=self.zero_infinity,
        )  # fmt: skip


def min_frames(labels: list[int]) -> int:
    """The fewest frames an alignment of ``labels`` needs: ``U`` plus one blank per repeat."""
    return len(labels) + sum(a == b for a, b in itertools.pairwise(labels))


def check_inputs(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor, blank: int
) -> None:
    """One-line ``ValueError`` for inputs ``torch.nn.functional.ctc_loss`` would misread."""
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (T, B, C), got shape {tuple(log_probs.shape)}")
    T, B, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank {blank} is not one of the {C} symbols")
    if input_lengths.shape != (B,) or target_lengths.shape != (B,):
        raise ValueError(f"input_lengths and target_lengths must be ({B},), one per sequence")
    if B and (input_lengths.min() < 0 or input_lengths.max() > T):
        raise ValueError(f"input_lengths must be in [0, {T}], got {input_lengths.tolist()}")
    joined = targets.dim() == 1
    limit = targets.numel() if joined else targets.shape[1]
    total = int(target_lengths.sum()) if joined else max(target_lengths.tolist(), default=0)
    if B and (target_lengths.min() < 0 or total > limit):
        raise ValueError(f"target_lengths {target_lengths.tolist()} exceed the targets given")
    bad = (targets < 0) | (targets >= C) | (targets == blank)  # one pass, no per-label loop
    if not joined:
        bad &= torch.arange(targets.shape[1], device=targets.device) < target_lengths[:, None]
    if bad.any():
        first = int(bad.nonzero()[0, 0])
        b = first if not joined else int((target_lengths.cumsum(0) <= first).sum())
        raise ValueError(f"targets of sequence {b} must be in [0, {C}) and not the blank")
    if B and T:
        total_mass = log_probs.detach().float().logsumexp(-1)  # (T, B): 0 when normalised
        if not torch.allclose(total_mass, torch.zeros_like(total_mass), atol=1e-3):
            raise ValueError("log_probs must be log-softmax over the last dim (C)")

