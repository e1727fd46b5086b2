"""Digit lines: each line is its scans, resized, gapped and slanted; splits never share a scan."""

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from rnnkit.data.digit_lines import (
    DigitLines,
    digit_lines,
    max_line_width,
    pad_lines,
    resize_matrix,
    slant,
    write_line,
)
from rnnkit.data.digits import load_scans, split_scans


def test_lines_are_their_scans_digits_within_the_lengths_asked():
    images, targets = load_scans()
    pool = split_scans()[2]
    lines = digit_lines(pool, 200, min_digits=3, max_digits=8, seed=0)
    assert isinstance(lines, DigitLines) and len(lines) == 200
    assert {len(label) for label in lines.labels} == set(range(3, 9))
    for image, label, ids in zip(lines.images, lines.labels, lines.scan_ids, strict=True):
        assert image.dtype == torch.float32 and image.shape[0] == 8
        assert set(ids) <= set(pool.tolist())
        assert label == "".join(str(targets[i]) for i in ids)
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0 + 1e-6
        # slanting keeps the ink; resizing 8 columns to m in [6, 10] scales it by m / 8, times
        # at most 10/9 or at least 8/9 per column (linear interpolation at the edges)
        ink = float(images[ids].sum())
        assert 0.75 * 8 / 9 * ink <= float(image.sum()) <= 1.25 * 10 / 9 * ink


def test_widths_vary_and_never_exceed_the_bound():
    lines = digit_lines(split_scans()[0], 500, min_digits=3, max_digits=8, seed=1)
    widths = lines.widths
    assert widths.shape == (500,) and widths.dtype == torch.int64
    assert int(widths.max()) <= max_line_width(8)
    assert len(set(widths.tolist())) > 30  # not fixed slots
    # the same number of digits comes in many widths (random scale and gaps)
    eights = [w for w, label in zip(widths.tolist(), lines.labels, strict=True) if len(label) == 8]
    assert max(eights) - min(eights) >= 10


def test_train_and_test_lines_share_no_scan():
    train, _, test = split_scans(seed=3)
    a = digit_lines(train, 300, seed=0)
    b = digit_lines(test, 300, seed=0)
    used_a = {i for ids in a.scan_ids for i in ids}
    used_b = {i for ids in b.scan_ids for i in ids}
    assert used_a <= set(train.tolist()) and used_b <= set(test.tolist())
    assert not used_a & used_b


def test_lines_are_seeded():
    pool = split_scans()[1]
    first, again = digit_lines(pool, 50, seed=7), digit_lines(pool, 50, seed=7)
    assert first.labels == again.labels and first.scan_ids == again.scan_ids
    assert all(torch.equal(x, y) for x, y in zip(first.images, again.images, strict=True))
    assert digit_lines(pool, 50, seed=8).labels != first.labels


def test_resize_matrix_by_hand():
    assert np.array_equal(resize_matrix(8, 8), np.eye(8, dtype=np.float32))
    # 2 columns -> 4: new centres at 0.25, 0.75, 1.25, 1.75 of the old width fall at old
    # positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    want = np.array([[1.0, 0.75, 0.25, 0.0], [0.0, 0.25, 0.75, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(resize_matrix(2, 4), want)
    x = np.array([[2.0, 6.0]], dtype=np.float32)
    np.testing.assert_allclose(x @ resize_matrix(2, 4), [[2.0, 3.0, 5.0, 6.0]])


def test_slant_by_hand():
    image = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    # no slant: one blank column on the right (room for a fractional shift), nothing moves
    np.testing.assert_allclose(slant(image, 0.0), [[1, 2, 0], [3, 4, 0]])
    # k = 1, H = 2: row 0 moves right by 0.5, row 1 left by 0.5; one column of room each side
    want = [[0, 0.5, 1.5, 1.0, 0], [1.5, 3.5, 2.0, 0, 0]]
    np.testing.assert_allclose(slant(image, 1.0), want)
    assert slant(image, 1.0).sum() == pytest.approx(image.sum())


def test_write_line_without_randomness_is_the_scans_side_by_side():
    class Fixed:  # a generator whose draws make no gaps, no margins, scale 1, no slant
        def integers(self, low, high):
            return 0

        def uniform(self, low, high):
            return 1.0 if (low, high) == (0.75, 1.25) else 0.0

    scans = load_scans()[0][[0, 5, 9]]  # (3, 8, 8)
    line = write_line(scans, Fixed())
    want = np.concatenate([*scans, np.zeros((8, 1), np.float32)], axis=1)
    np.testing.assert_allclose(line, want)


def test_pad_lines():
    lines = [torch.ones(8, 3), torch.full((8, 5), 0.5), torch.ones(8, 1)]
    batch, widths = pad_lines(lines, [1, 0])
    assert batch.shape == (2, 1, 8, 5) and widths.tolist() == [5, 3]
    assert torch.equal(batch[0, 0], lines[1])
    assert torch.equal(batch[1, 0, :, :3], lines[0]) and batch[1, 0, :, 3:].eq(0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="scans"):
        digit_lines([], 3, seed=0)
    with pytest.raises(ValueError, match="max_digits"):
        digit_lines([0, 1], 3, min_digits=4, max_digits=3, seed=0)
