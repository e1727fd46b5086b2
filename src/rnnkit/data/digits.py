"""Reading handwritten numbers: strings of digits made from scikit-learn's scanned digits.

scikit-learn ships 1,797 scans of handwritten digits (``sklearn.datasets.load_digits``: the
UCI optical recognition set, 8x8 pixels of 0-16 ink, about 180 per digit), so this needs no
download. A number of 3-6 digits is drawn as scans placed side by side, left to right, and
the model reads the image column by column and writes the digit string::

    images[i, 0]   (8, 8 * max_digits)   |scan 3|scan 9|scan 0|scan 7| 0 ... 0 |  ->  "3907"

The scans are split first (:func:`split_scans`), and each split's images are built from its
own scans only (:func:`digit_strings`), so a test image holds no handwriting seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import check_int
from rnnkit.data.splits import split_indices
from rnnkit.errors import RnnkitError

N_SCANS = 1797  # scans in sklearn.datasets.load_digits
SIZE = 8  # a scan is SIZE x SIZE pixels
_INK = 16.0  # the largest pixel value of a scan


@dataclass
class DigitStrings:
    """Images of digit strings and their labels.

    Attributes:
        images: (N, 1, 8, 8 * max_digits) float32 in [0, 1]; image ``i`` holds
            ``widths[i]`` scans side by side, then zeros.
        widths: (N,) int64, the number of digits of each image (its width is ``8 * widths``).
        labels: the digit string of each image, e.g. ``"3907"``.
        scan_ids: (N, max_digits) int64, the scan (an index into :func:`load_scans`) at each
            position, -1 past the end.
    """

    images: Tensor
    widths: Tensor
    labels: list[str]
    scan_ids: Tensor

    def __len__(self) -> int:
        return len(self.labels)


@lru_cache(maxsize=1)
def load_scans() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 scans: (1797, 8, 8) float32 images in [0, 1] and (1797,) int64 digits.

    The arrays are read-only (they are cached and shared).

    Raises:
        RnnkitError: if scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise RnnkitError(
            'the handwritten digits need scikit-learn: pip install "rnnkit[seq2seq]"'
        ) from None
    digits = load_digits()
    images = (digits.images / _INK).astype(np.float32)  # (1797, 8, 8)
    targets = digits.target.astype(np.int64)  # (1797,)
    images.flags.writeable = targets.flags.writeable = False
    return images, targets


def split_scans(
    *, seed: int = 0, test: float = 0.2, valid: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint train, valid and test sets of scan indices, stratified by digit.

    Uses :func:`rnnkit.data.splits.split_indices`: the test scans are cut first (``ceil(test
    * 1797)`` of them, each digit within one of its share), then valid from the rest, so the
    test set depends only on ``seed`` and ``test``. Fractions are of all 1,797 scans.

    Returns:
        (train, valid, test): sorted int64 index arrays into :func:`load_scans`.
    """
    _, targets = load_scans()
    labels = [str(digit) for digit in targets.tolist()]
    split = split_indices(labels, valid_fraction=valid, test_fraction=test, seed=seed)
    train, valid_ids, test_ids = (
        np.array(part, dtype=np.int64) for part in (split.train, split.valid, split.test)
    )
    return train, valid_ids, test_ids


def digit_strings(
    scans: np.ndarray | Sequence[int],
    count: int,
    *,
    min_digits: int = 3,
    max_digits: int = 6,
    generator: torch.Generator,
) -> DigitStrings:
    """Random numbers written with the given scans.

    Each image has a number of digits uniform in ``[min_digits, max_digits]``, and each
    position a scan drawn uniformly (with replacement) from ``scans``. All widths are drawn
    first, then ``max_digits`` scans per image (those past its width unused), so the same
    generator state gives the same images.

    Args:
        scans: indices into :func:`load_scans` to draw from, e.g. one set of
            :func:`split_scans`.
        count: number of images (>= 0).
        min_digits: fewest digits (>= 1).
        max_digits: most digits (>= ``min_digits``); sets the padded width ``8 * max_digits``.
        generator: the source of randomness, e.g. ``torch.Generator().manual_seed(0)``.
    """
    check_int("count", count, 0)
    check_int("min_digits", min_digits, 1)
    check_int("max_digits", max_digits, min_digits)
    pool = _check_scans(scans)
    images, targets = load_scans()
    widths = torch.randint(min_digits, max_digits + 1, (count,), generator=generator)  # (N,)
    picks = torch.randint(0, len(pool), (count, max_digits), generator=generator)
    used = torch.arange(max_digits) < widths[:, None]  # (N, max_digits)
    scan_ids = torch.where(used, pool[picks], -1)  # (N, max_digits)
    blocks = torch.tensor(images)[scan_ids.clamp(min=0)]  # (N, max_digits, 8, 8)
    blocks = blocks * used[:, :, None, None]  # zero past the end
    strip = blocks.permute(0, 2, 1, 3).reshape(count, 1, SIZE, SIZE * max_digits)
    digits = torch.tensor(targets)[scan_ids.clamp(min=0)].tolist()
    labels = ["".join(map(str, row[:n])) for row, n in zip(digits, widths.tolist(), strict=True)]
    return DigitStrings(strip.contiguous(), widths, labels, scan_ids)


def _check_scans(scans: np.ndarray | Sequence[int]) -> Tensor:
    """The scan indices as a (S,) int64 tensor; refuses an empty set or a bad index."""
    pool = np.asarray(scans)
    if pool.ndim != 1 or pool.size == 0 or not np.issubdtype(pool.dtype, np.integer):
        raise ValueError(f"scans must be a non-empty 1-D array of integers, got {pool!r}")
    if pool.min() < 0 or pool.max() >= N_SCANS:
        raise ValueError(f"scan indices must be in [0, {N_SCANS}), got {pool.min()}..{pool.max()}")
    return torch.from_numpy(pool.astype(np.int64))
