"""Lines of handwriting: digit strings written with scikit-learn's scans, of varying width.

Where :mod:`rnnkit.data.digits` places scans in fixed 8-pixel slots, a *line* is written more
like a hand writes: each digit squeezed or stretched in width, a random gap before it, and the
whole line slanted (a shear), so its width varies and the digits have no fixed columns::

    image (8, W)      | 3  9   0 7 |      W = margins + Σ digit widths + gaps + slant

A reader must find the digits itself: a CTC recogniser reads the line column by column.
Lines for each split are drawn from that split's scans only (:func:`rnnkit.data.digits.
split_scans`), so test lines hold no handwriting seen in training. Everything is drawn from
one NumPy generator, so a seed gives the same lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import check_int
from rnnkit.data.digits import SIZE, _check_scans, load_scans

#: width scale of a digit: its 8 columns become round(8 * s) columns, s uniform in this range
SCALE = (0.75, 1.25)
MAX_GAP = 3  # blank columns before each digit after the first: uniform in [0, MAX_GAP]
MAX_MARGIN = 2  # blank columns at each end of the line: uniform in [0, MAX_MARGIN]
#: slant: row r moves right by k * (3.5 - r) columns (the top leans right for k > 0)
MAX_SLANT = 0.3


@dataclass
class DigitLines:
    """Lines of digits and their labels.

    Attributes:
        images: one (8, W_i) float32 tensor in [0, 1] per line.
        labels: the digit string of each line, e.g. ``"3907"``.
        scan_ids: the scans (indices into :func:`~rnnkit.data.digits.load_scans`) of each
            line's digits, left to right.
    """

    images: list[Tensor]
    labels: list[str]
    scan_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def widths(self) -> Tensor:
        """(N,) int64: each line's width in pixels."""
        return torch.tensor([image.shape[1] for image in self.images], dtype=torch.int64)


def max_line_width(max_digits: int) -> int:
    """The widest line :func:`digit_lines` can draw with ``max_digits`` digits."""
    digit = round(SIZE * SCALE[1])
    slant = 2 * int(np.ceil(MAX_SLANT * (SIZE - 1) / 2)) + 1  # see slant()
    return 2 * MAX_MARGIN + max_digits * digit + (max_digits - 1) * MAX_GAP + slant


def digit_lines(
    scans: np.ndarray | Sequence[int],
    count: int,
    *,
    min_digits: int = 3,
    max_digits: int = 8,
    seed: int,
) -> DigitLines:
    """Random digit strings written as lines with the given scans.

    Each line has a number of digits uniform in ``[min_digits, max_digits]``, each digit a scan
    drawn uniformly (with replacement) from ``scans``, rescaled in width, after a random gap;
    then the line is slanted (see the module constants).

    Args:
        scans: indices into :func:`~rnnkit.data.digits.load_scans` to draw from, e.g. one
            set of :func:`~rnnkit.data.digits.split_scans`.
        count: number of lines (>= 0).
        min_digits: fewest digits (>= 1).
        max_digits: most digits (>= ``min_digits``).
        seed: seeds the one NumPy generator every draw comes from.
    """
    check_int("count", count, 0)
    check_int("min_digits", min_digits, 1)
    check_int("max_digits", max_digits, min_digits)
    pool = _check_scans(scans).numpy()
    images, targets = load_scans()
    rng = np.random.default_rng(seed)
    lines, labels, ids = [], [], []
    for _ in range(count):
        chosen = rng.choice(pool, size=rng.integers(min_digits, max_digits + 1))
        lines.append(torch.from_numpy(write_line(images[chosen], rng)))
        labels.append("".join(str(d) for d in targets[chosen].tolist()))
        ids.append(chosen.tolist())
    return DigitLines(lines, labels, ids)


def write_line(scans: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 8, 8) scans -> one (8, W) line: each scan rescaled, gaps between, then slanted."""
    parts = [np.zeros((SIZE, rng.integers(0, MAX_MARGIN + 1)), np.float32)]
    for k, scan in enumerate(scans):
        if k:
            parts.append(np.zeros((SIZE, rng.integers(0, MAX_GAP + 1)), np.float32))
        width = round(SIZE * rng.uniform(*SCALE))
        parts.append(scan @ resize_matrix(SIZE, width))  # (8, width)
    parts.append(np.zeros((SIZE, rng.integers(0, MAX_MARGIN + 1)), np.float32))
    return slant(np.concatenate(parts, axis=1), rng.uniform(-MAX_SLANT, MAX_SLANT))


def resize_matrix(n: int, m: int) -> np.ndarray:
    """(n, m) linear interpolation: ``x @ R`` resamples x's n columns to m (centres aligned)."""
    source = np.clip((np.arange(m) + 0.5) * n / m - 0.5, 0, n - 1)  # where each new column falls
    left = np.floor(source).astype(int)
    right = np.minimum(left + 1, n - 1)
    frac = (source - left).astype(np.float32)
    matrix = np.zeros((n, m), np.float32)
    matrix[left, np.arange(m)] += 1 - frac
    matrix[right, np.arange(m)] += frac
    return matrix


def slant(image: np.ndarray, k: float) -> np.ndarray:
    """(H, W) -> (H, W + 2 P + 1): row r shifted right by ``k * ((H - 1) / 2 - r)`` columns
    (fractional shifts interpolate linearly), widened by ``P = ceil(max |shift|)`` on each
    side (and one column for a fractional shift's spill) so nothing falls off either end."""
    H, W = image.shape
    shifts = k * ((H - 1) / 2 - np.arange(H))  # (H,) columns to move each row right
    pad = int(np.ceil(np.abs(shifts).max()))
    out = np.zeros((H, W + 2 * pad + 1), np.float32)
    for r, shift in enumerate(shifts):
        whole = int(np.floor(shift))
        frac = shift - whole
        lo = pad + whole
        out[r, lo : lo + W] += (1 - frac) * image[r]
        out[r, lo + 1 : lo + 1 + W] += frac * image[r]
    return out


def pad_lines(
    images: Sequence[Tensor], order: Sequence[int], *, width: int | None = None
) -> tuple[Tensor, Tensor]:
    """The (H, W_i) lines at positions ``order`` as one (B, 1, H, W) batch, zero right of
    each line, and their widths (B,). ``W`` is ``width`` if given (at least the widest line's),
    else the widest line's."""
    chosen = [images[i] for i in order]
    widths = torch.tensor([image.shape[-1] for image in chosen], dtype=torch.int64)
    height = chosen[0].shape[0] if chosen else SIZE
    if width is None:
        width = int(widths.max()) if chosen else 0
    batch = torch.zeros(len(chosen), 1, height, width)
    for row, image in enumerate(chosen):
        batch[row, 0, :, : image.shape[-1]] = image
    return batch, widths
