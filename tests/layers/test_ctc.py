"""CTCLoss: torch's kernel behind one-line checks of what it would misread."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.layers.ctc import CTCLoss, min_frames


def batch(T: int = 8, B: int = 3, C: int = 5):
    torch.manual_seed(0)
    log_probs = torch.randn(T, B, C, dtype=torch.float64).log_softmax(-1)
    targets = torch.tensor([[1, 2, 2], [3, 0, 0], [4, 1, 0]])
    return log_probs, targets, torch.tensor([8, 5, 7]), torch.tensor([3, 1, 2])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_equals_torch(reduction: str) -> None:
    log_probs, targets, input_lengths, target_lengths = batch()
    log_probs.requires_grad_(True)
    ours = CTCLoss(reduction=reduction)(log_probs, targets, input_lengths, target_lengths)
    theirs = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction=reduction,
                        zero_infinity=True)  # fmt: skip
    torch.testing.assert_close(ours, theirs)
    if reduction == "mean":  # each loss over its target length, then the batch mean
        per = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
        torch.testing.assert_close(ours, (per / target_lengths).mean())


def test_joined_targets_equal_padded() -> None:
    log_probs, targets, input_lengths, target_lengths = batch()
    joined = torch.cat([targets[b, :n] for b, n in enumerate(target_lengths.tolist())])
    loss = CTCLoss(reduction="none")
    torch.testing.assert_close(
        loss(log_probs, joined, input_lengths, target_lengths),
        loss(log_probs, targets, input_lengths, target_lengths),
    )


def test_impossible_sequence_has_zero_loss_by_default() -> None:
    log_probs = torch.zeros(2, 1, 3).log_softmax(-1)
    args = (log_probs, torch.tensor([[1, 1]]), torch.tensor([2]), torch.tensor([2]))
    assert min_frames([1, 1]) == 3
    assert CTCLoss(reduction="sum")(*args).item() == 0.0
    assert CTCLoss(reduction="sum", zero_infinity=False)(*args).item() == float("inf")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: (a[0], torch.tensor([[1, 0, 2], [3, 0, 0], [4, 1, 0]]), *a[2:]),
            "not the blank",
        ),
        (lambda a: (a[0], a[1], torch.tensor([9, 5, 7]), a[3]), "input_lengths must be in"),
        (lambda a: (a[0], a[1], a[2], torch.tensor([4, 1, 2])), "exceed the targets"),
        (lambda a: (a[0].exp(), *a[1:]), "log-softmax"),
        (lambda a: (a[0][0], *a[1:]), "(T, B, C)"),
        (lambda a: (a[0], a[1], a[2][:2], a[3]), "one per sequence"),
    ],
)
def test_bad_input_gives_one_line(change, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CTCLoss()(*change(batch()))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="reduction"):
        CTCLoss(reduction="avg")
    with pytest.raises(ValueError, match="blank"):
        CTCLoss(blank=-1)
