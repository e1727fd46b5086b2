"""Moving digits: bounces by hand, digits only from the scans given, resumable batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.digits import split_scans
from rnnkit.data.moving_digits import MovingDigitBatches, moving_digits, scaled_scan, trajectory


def test_trajectory_bounces_by_hand() -> None:
    # limit 10; start (1, 8), velocity (-3, 2): axis 0 leaves at step 1, axis 1 at step 2
    path = trajectory((1.0, 8.0), (-3.0, 2.0), 5, 10.0)
    expected = [(1, 8), (4, 10), (7, 8), (10, 6), (7, 4)]
    np.testing.assert_allclose(path, expected)


def test_sequences_stay_in_the_canvas_and_in_range() -> None:
    train, _, _ = split_scans(seed=0)
    x = moving_digits(train, 6, seed=1, speed=5.0)
    assert x.shape == (6, 20, 48, 48) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    ink = x.flatten(2).sum(-1)  # (N, T): the digits never leave (no frame loses all its ink)
    assert (ink > 0).all()


def test_digits_come_only_from_the_scans_given() -> None:
    _, _, test = split_scans(seed=0)
    index = int(test[3])
    x = moving_digits(np.array([index]), 2, seed=0, digits=1, speed=0.0)  # one still digit
    image = scaled_scan(index, 2)  # (16, 16)
    frame = x[0, 0].numpy()
    ys, xs = np.nonzero(frame)
    y0, x0 = ys.min() - np.nonzero(image)[0].min(), xs.min() - np.nonzero(image)[1].min()
    np.testing.assert_array_equal(frame[y0 : y0 + 16, x0 : x0 + 16], image)
    assert torch.equal(x[0, 0], x[0, -1])  # speed 0: it stays


def test_splits_are_disjoint() -> None:
    train, valid, test = split_scans(seed=0)
    assert not (set(train) & set(test)) and not (set(valid) & set(test))


def test_batches_resume_where_they_stopped() -> None:
    train, _, _ = split_scans(seed=0)
    source = MovingDigitBatches(train, 3, seed=5, frames=4)
    first = [source.next_batch() for _ in range(3)]
    again = MovingDigitBatches(train, 3, seed=5, frames=4)
    again.load_state_dict({"batch": 2})
    assert torch.equal(again.next_batch(), first[2])
    assert not torch.equal(first[0], first[1])  # every batch fresh


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="canvas"):
        moving_digits(np.array([0]), 1, seed=0, canvas=16)
