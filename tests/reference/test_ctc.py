"""The NumPy CTC recursion against torch's kernel, and against brute force over alignments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.decoding.ctc import collapse
from rnnkit.reference.ctc import backward_variables, ctc_loss, forward_variables


def torch_loss_and_grad(logits: np.ndarray, labels: list[int], blank: int = 0):
    u = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    log_probs = u.log_softmax(-1)[:, None]  # (T, 1, C)
    loss = F.ctc_loss(
        log_probs, torch.tensor([labels], dtype=torch.long).reshape(1, -1),
        torch.tensor([len(logits)]), torch.tensor([len(labels)]),
        blank=blank, reduction="sum", zero_infinity=True,
    )  # fmt: skip
    loss.backward()
    return loss.item(), u.grad.numpy()


CASES = [  # (T, C, labels): repeats, empty targets, the fewest frames a sequence needs
    (6, 4, [1, 2, 3]),
    (7, 3, [1, 1, 2]),  # a repeat needs a blank between
    (3, 3, [1, 1]),  # exactly U + repeats = 3 frames
    (2, 3, [1, 2]),  # exactly U frames
    (5, 4, []),  # empty target: only blanks
    (1, 2, [1]),
    (12, 5, [4, 4, 4, 2]),
    (9, 5, [3, 1, 3, 1]),
]


@pytest.mark.parametrize(("T", "C", "labels"), CASES)
@pytest.mark.parametrize("blank", [0, "last"])
def test_loss_and_gradient_equal_torch(T: int, C: int, labels: list[int], blank) -> None:
    rng = np.random.default_rng(T * 31 + C)
    logits = rng.normal(0, 2, (T, C))
    if blank == "last":  # move the labels off the last symbol, which becomes the blank
        blank, labels = C - 1, [k - 1 for k in labels]
    loss, grad = ctc_loss(logits, labels, blank)
    expected_loss, expected_grad = torch_loss_and_grad(logits, labels, blank)
    assert loss == pytest.approx(expected_loss, abs=1e-6, rel=1e-9)
    np.testing.assert_allclose(grad, expected_grad, atol=1e-6)


def brute_force_log_p(log_y: np.ndarray, labels: list[int], blank: int = 0) -> float:
    """ln Σ over every one of the C^T paths that collapses to ``labels``."""
    T, C = log_y.shape
    total = [sum(log_y[t, k] for t, k in enumerate(path))
             for path in itertools.product(range(C), repeat=T)
             if collapse(path, blank) == labels]  # fmt: skip
    return float(np.logaddexp.reduce(total)) if total else -np.inf


@pytest.mark.parametrize(("T", "labels"), [(4, [1, 2]), (5, [1, 1]), (3, []), (5, [2, 1, 2])])
def test_alpha_beta_sum_over_every_alignment(T: int, labels: list[int]) -> None:
    rng = np.random.default_rng(T)
    logits = rng.normal(0, 1, (T, 3))
    log_y = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    log_alpha = forward_variables(log_y, labels)
    log_beta = backward_variables(log_y, labels)
    log_p = brute_force_log_p(log_y, labels)
    assert np.logaddexp.reduce(log_alpha[-1, -2:]) == pytest.approx(log_p, abs=1e-12)
    # p = Σ_s α_t(s) β_t(s) / y_t(l'_s) at every frame, not only the last
    ext = [0] + [x for k in labels for x in (k, 0)]
    for t in range(T):
        per_frame = np.logaddexp.reduce(log_alpha[t] + log_beta[t] - log_y[t, ext])
        assert per_frame == pytest.approx(log_p, abs=1e-12)


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(0, 1, (5, 3)), [1, 2, 1]
    _, grad = ctc_loss(logits, labels)
    eps, numeric = 1e-6, np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (ctc_loss(up, labels)[0] - ctc_loss(down, labels)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-7)


def test_too_few_frames_is_impossible() -> None:
    loss, grad = ctc_loss(np.zeros((2, 3)), [1, 1])  # a repeat needs 3 frames
    assert loss == np.inf and not grad.any()
    expected, _ = torch_loss_and_grad(np.zeros((2, 3)), [1, 1])
    assert expected == 0.0  # torch's zero_infinity: the same case, loss zeroed
