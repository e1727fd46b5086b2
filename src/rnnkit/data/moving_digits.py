"""Moving digits: two handwritten digits bouncing inside a canvas (Moving-MNIST style).

Srivastava et al. (2015) made Moving MNIST to study video prediction, and Shi et al. (2015)
used it to show that a convolutional LSTM predicts such sequences better than a fully
connected one. This builds the same kind of sequences, offline, from scikit-learn's 8x8 scans
(:func:`rnnkit.data.digits.load_scans`), each scaled up ``scale`` times (16x16 by default)::

    frames[i]   (T, H, W) float32 in [0, 1]          T = 20: 10 frames in, 10 to predict

Each digit starts at a random position with a random velocity (a random direction, ``speed``
pixels a frame); when its next position would leave the canvas, the velocity component that
would take it out flips, and the digit moves back in by the same step (a bounce). Two digits
that overlap combine by the maximum, as in Moving MNIST. Training, validation and test
sequences take their digits from disjoint scans (:func:`rnnkit.data.digits.split_scans`), so
no test frame holds handwriting seen in training.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import check_int
from rnnkit.data.digits import SIZE, load_scans

CANVAS = 48  # H = W of a frame
FRAMES = 20  # per sequence: FRAMES_IN observed, the rest predicted
FRAMES_IN = 10


def scaled_scan(index: int, scale: int) -> np.ndarray:
    """Scan ``index`` (8, 8) enlarged by pixel repetition to (8 scale, 8 scale), in [0, 1]."""
    images, _ = load_scans()
    return np.kron(images[index], np.ones((scale, scale), dtype=np.float32))


def trajectory(
    start: tuple[float, float], velocity: tuple[float, float], steps: int, limit: float
) -> np.ndarray:
    """(steps, 2) top-left corners from ``start``, bouncing inside [0, limit] on each axis."""
    position = np.array(start, dtype=np.float64)
    v = np.array(velocity, dtype=np.float64)
    path = np.empty((steps, 2))
    for t in range(steps):
        path[t] = position
        ahead = position + v
        for axis in range(2):  # reflect the component that would leave the canvas
            if ahead[axis] < 0 or ahead[axis] > limit:
                v[axis] = -v[axis]
        position = position + v
    return path


def moving_digits(
    scans: np.ndarray,
    count: int,
    *,
    seed: int,
    digits: int = 2,
    frames: int = FRAMES,
    canvas: int = CANVAS,
    scale: int = 2,
    speed: float = 3.0,
) -> Tensor:
    """``count`` sequences (count, frames, canvas, canvas) of ``digits`` moving scans drawn
    from the scan indices ``scans`` (module docstring)."""
    check_int("count", count, 1)
    check_int("frames", frames, 1)
    size = SIZE * scale
    if canvas <= size:
        raise ValueError(f"canvas must be larger than a digit ({size} pixels), got {canvas}")
    rng = np.random.default_rng(seed)
    out = np.zeros((count, frames, canvas, canvas), dtype=np.float32)
    limit = canvas - size
    for n in range(count):
        for index in rng.choice(scans, size=digits):
            image = scaled_scan(int(index), scale)
            angle = rng.uniform(0, 2 * math.pi)
            velocity = (speed * math.sin(angle), speed * math.cos(angle))
            path = trajectory(tuple(rng.uniform(0, limit, 2)), velocity, frames, limit)
            for t, (y, x) in enumerate(np.rint(path).astype(int)):
                window = out[n, t, y : y + size, x : x + size]
                np.maximum(window, image, out=window)
    return torch.from_numpy(out)


class MovingDigitBatches:
    """Endless training batches, each ``batch_size`` fresh sequences of scans from ``scans``.

    Batch ``n`` is drawn with the seed ``(seed, n)``, so the source's whole state is ``n``:
    a resumed run sees the same batches an uninterrupted one would. ``epoch`` counts
    ``batches_per_epoch`` batches (a nominal epoch: the sequences never repeat).
    """

    def __init__(
        self, scans: np.ndarray, batch_size: int, *, seed: int, batches_per_epoch: int = 100,
        **options: float,
    ) -> None:  # fmt: skip
        self.scans, self.batch_size, self.seed = scans, check_int("batch_size", batch_size, 1), seed
        self.batches_per_epoch, self.options = batches_per_epoch, options
        self.batch, self.rank, self.world_size = 0, 0, 1

    @property
    def epoch(self) -> int:
        return self.batch // self.batches_per_epoch

    def shard(self, rank: int, world_size: int) -> None:
        """Under data parallelism each rank draws its own part of every batch."""
        self.rank, self.world_size = rank, world_size

    def next_batch(self) -> Tensor:
        """(B, T, H, W) frames of the next batch."""
        size = max(1, self.batch_size // self.world_size)
        seed = self.seed * 1_000_003 + self.batch * 101 + self.rank
        self.batch += 1
        return moving_digits(self.scans, size, seed=seed, **self.options)

    def state_dict(self) -> dict:
        return {"batch": self.batch}

    def load_state_dict(self, state: dict) -> None:
        self.batch = check_int("batch", state["batch"], 0)
