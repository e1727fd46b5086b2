"""Handwritten digit strings: disjoint stratified scan splits, and images that are their scans."""

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from rnnkit.data import digits
from rnnkit.data.digits import DigitStrings, digit_strings, load_scans, split_scans
from rnnkit.errors import RnnkitError


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_scans():
    images, targets = load_scans()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert targets.shape == (1797,) and set(targets.tolist()) == set(range(10))


def test_scan_splits_are_disjoint_and_stratified():
    train, valid, test = split_scans(seed=0)
    assert (len(train), len(valid), len(test)) == (1257, 180, 360)
    assert np.array_equal(np.sort(np.concatenate([train, valid, test])), np.arange(1797))
    _, targets = load_scans()
    per_digit = np.bincount(targets, minlength=10)
    for part, fraction in ((train, 0.7), (valid, 0.1), (test, 0.2)):
        assert np.all(np.diff(part) > 0)  # sorted, no repeats
        counts = np.bincount(targets[part], minlength=10)
        assert np.all(np.abs(counts - fraction * per_digit) <= 2), (fraction, counts)


def test_scan_splits_are_seeded():
    first = split_scans(seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, split_scans(seed=1), strict=True))
    assert not np.array_equal(first[2], split_scans(seed=2)[2])
    assert np.array_equal(first[2], split_scans(seed=1, valid=0.2)[2])  # test depends on test only
    sizes = [len(part) for part in split_scans(test=0.1, valid=0.0)]
    assert sizes == [1617, 0, 180]


def test_each_block_is_the_scan_of_its_digit():
    images, targets = load_scans()
    pool = split_scans()[2]
    data = digit_strings(pool, 300, generator=generator())
    assert isinstance(data, DigitStrings) and len(data) == 300
    assert data.images.shape == (300, 1, 8, 48) and data.images.dtype == torch.float32
    assert data.widths.shape == (300,) and set(data.widths.tolist()) == {3, 4, 5, 6}
    for i in range(300):
        n = int(data.widths[i])
        assert len(data.labels[i]) == n and data.labels[i].isdigit()
        assert data.scan_ids[i, n:].eq(-1).all()
        for k in range(n):
            scan = int(data.scan_ids[i, k])
            assert scan in pool  # drawn from the given scans only
            assert int(data.labels[i][k]) == targets[scan]
            block = data.images[i, 0, :, 8 * k : 8 * (k + 1)]
            assert torch.equal(block, torch.from_numpy(images[scan].copy()))
        assert data.images[i, :, :, 8 * n :].eq(0).all()  # right padding


def test_values_and_options():
    data = digit_strings(np.arange(1797), 200, min_digits=1, max_digits=2, generator=generator())
    assert data.images.shape == (200, 1, 8, 16)
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert set(data.widths.tolist()) == {1, 2}
    one = digit_strings([5], 4, min_digits=2, max_digits=2, generator=generator())
    _, targets = load_scans()
    assert one.labels == [str(targets[5]) * 2] * 4
    assert len(digit_strings([0, 1], 0, generator=generator())) == 0


def test_deterministic_under_a_seeded_generator():
    pool = split_scans()[0]
    first = digit_strings(pool, 50, generator=generator(1))
    again = digit_strings(pool, 50, generator=generator(1))
    assert torch.equal(first.images, again.images) and first.labels == again.labels
    assert torch.equal(first.widths, again.widths)
    assert digit_strings(pool, 50, generator=generator(2)).labels != first.labels


@pytest.mark.parametrize(
    ("scans", "options", "message"),
    [
        ([], {}, "scans must be a non-empty 1-D array of integers"),
        ([0.5], {}, "scans must be a non-empty 1-D array of integers"),
        ([0, 1797], {}, r"scan indices must be in \[0, 1797\), got 0\.\.1797"),
        ([0], {"min_digits": 0}, "min_digits must be a positive integer, got 0"),
        ([0], {"max_digits": 2}, "max_digits must be an integer >= 3, got 2"),
        ([0], {"count": -1}, "count must be an integer >= 0, got -1"),
    ],
)
def test_bad_arguments(scans, options, message):
    options = {"count": 2, **options}
    with pytest.raises(ValueError, match=message):
        digit_strings(np.array(scans), generator=generator(), **options)


def test_missing_scikit_learn_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    digits.load_scans.cache_clear()
    with pytest.raises(RnnkitError, match=r'pip install "rnnkit\[seq2seq\]"$'):
        digits.load_scans()
