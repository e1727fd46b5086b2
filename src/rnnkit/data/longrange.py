"""Long-range dependency benchmarks: adding, copy memory, NTM copy, sequential digits.

Every generator draws from the ``torch.Generator`` it is given (or, for the digits, a seed), so
the same state gives the same batch. Each states its distribution and the score of the best
model that remembers nothing, the line a model must beat to show it uses memory:

=====================  ===================================  ===============================
task                   shapes                               memoryless baseline
=====================  ===================================  ===============================
adding problem         x (B, T, 2), y (B,)                  MSE 1/6 (``ADDING_BASELINE_MSE``)
copy memory            x, y (B, T + 2L) long                ``copy_baseline(T)`` nats/step
NTM copy               x (B, 2L + 2, bits + 2), y (B, L,    ln 2 nats per bit
                       bits)
sequential digits      x (N, 64, 1) or (N, 8, 8), y (N,)    accuracy ≈ 0.10 (10 classes)
=====================  ===================================  ===============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.checks import check_bool, check_choice, check_int
from rnnkit.data.digits import SIZE, load_scans, split_scans

ADDING_BASELINE_MSE = 1 / 6  # Var(u_1 + u_2) = 2/12 for u_i ~ U[0, 1]: the MSE of predicting 1
BLANK = 0  # copy memory's blank token; the symbols are 1..symbols, the delimiter symbols + 1


def adding_problem(batch: int, T: int, *, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The adding problem in the form of Le, Jaitly & Hinton (2015), §4.1.

    Channel 0 holds T values drawn from U[0, 1]; channel 1 is 0 except at exactly two
    positions, marked 1: one uniform in the first half ``[0, T // 2)`` and one uniform in the
    second half ``[T // 2, T)`` (Hochreiter & Schmidhuber 1997 had the first mark in the first
    ten steps; Le et al. and Arjovsky et al. 2016 use the two halves). The target is the sum
    of the two marked values. Draw order: values, first marks, second marks.

    Baseline: always predicting 1 = E[u_1 + u_2] scores MSE Var(u_1 + u_2) = 2 · 1/12 = 1/6
    (``ADDING_BASELINE_MSE``).

    Args:
        batch: B, sequences (>= 0).
        T: steps per sequence (>= 2).
        generator: the source of randomness, e.g. ``torch.Generator().manual_seed(0)``.

    Returns:
        x (B, T, 2) float32 (values, marks) and y (B,) float32, the sums.
    """
    check_int("batch", batch, 0)
    check_int("T", T, 2)
    values = torch.rand(batch, T, generator=generator)  # (B, T)
    half = T // 2
    first = torch.randint(0, half, (batch,), generator=generator)  # (B,)
    second = torch.randint(half, T, (batch,), generator=generator)  # (B,)
    marks = torch.zeros(batch, T)
    rows = torch.arange(batch)
    marks[rows, first] = marks[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]  # (B,)
    return torch.stack([values, marks], dim=-1), y


def copy_memory(
    batch: int, T: int, *, generator: torch.Generator, symbols: int = 8, length: int = 10
) -> tuple[Tensor, Tensor]:
    """The copy memory task (Arjovsky, Shah & Bengio 2016, §4.1; Hochreiter & Schmidhuber 1997).

    Token ids: 0 blank, 1..``symbols`` the symbols, ``symbols + 1`` the delimiter (9 for the
    default 8 symbols). With L = ``length``, each sequence of T + 2L steps is::

        x = s_1 .. s_L | 0 × (T - 1) | delimiter | 0 × L
        y = 0 × (T + L)                          | s_1 .. s_L

    with s_i uniform over 1..``symbols``: after the delimiter, the model must write the L
    symbols it saw T + L steps earlier, and blank everywhere else.

    Baseline: blanks for T + L steps, then a uniform guess over the symbols, scores
    :func:`copy_baseline` nats per step of cross-entropy.

    Args:
        batch: B, sequences (>= 0).
        T: the gap (>= 1): the delimiter sits at step L + T - 1.
        generator: the source of randomness.
        symbols: distinct symbols (>= 1).
        length: L, symbols to copy (>= 1).

    Returns:
        x and y, each (B, T + 2L) int64.
    """
    check_int("batch", batch, 0)
    check_int("T", T, 1)
    check_int("symbols", symbols, 1)
    check_int("length", length, 1)
    seq = torch.randint(1, symbols + 1, (batch, length), generator=generator)  # (B, L)
    x = torch.full((batch, T + 2 * length), BLANK, dtype=torch.long)
    y = torch.full_like(x, BLANK)
    x[:, :length] = seq
    x[:, length + T - 1] = symbols + 1
    y[:, T + length :] = seq
    return x, y


def copy_baseline(T: int, symbols: int = 8, length: int = 10) -> float:
    """Cross-entropy per step of the memoryless copy strategy: L ln(symbols) / (T + 2L).

    Blanks are certain for T + L steps (0 nats); each of the last L steps is a uniform guess
    over the symbols (ln(symbols) nats). For T = 100: 10 ln 8 / 120 ≈ 0.173.
    """
    check_int("T", T, 1)
    check_int("symbols", symbols, 1)
    check_int("length", length, 1)
    return length * math.log(symbols) / (T + 2 * length)


def ntm_copy(
    batch: int, length: int, *, generator: torch.Generator, bits: int = 8
) -> tuple[Tensor, Tensor, Tensor]:
    """The copy task of Graves, Wayne & Danihelka (2014), §4.1, at one length per batch.

    Random binary vectors (each bit Bernoulli(1/2)) framed by two flag channels; with
    L = ``length`` the input has 2L + 2 steps and ``bits + 2`` channels::

        step        0       1 .. L        L + 1       L + 2 .. 2L + 1
        x[:bits]    0       v_1 .. v_L    0           0
        x[bits]     1       0             0           0      (start flag)
        x[bits+1]   0       0             1           0      (delimiter)

    The model reads the vectors, sees the delimiter, and must write v_1 .. v_L at steps
    L + 2 .. 2L + 1 (``mask``). Graves et al. drew L from 1..20 per sequence; draw L per batch
    to vary it. Baseline: predicting 1/2 for every bit scores ln 2 nats per bit.

    Args:
        batch: B, sequences (>= 0).
        length: L, vectors to copy (>= 1).
        generator: the source of randomness.
        bits: features per vector (>= 1).

    Returns:
        x (B, 2L + 2, bits + 2) float32, y (B, L, bits) float32 and mask (2L + 2,) bool, True
        at the L output steps: ``outputs[:, mask]`` lines up with y.
    """
    check_int("batch", batch, 0)
    check_int("length", length, 1)
    check_int("bits", bits, 1)
    y = torch.randint(0, 2, (batch, length, bits), generator=generator).float()  # (B, L, bits)
    x = torch.zeros(batch, 2 * length + 2, bits + 2)
    x[:, 0, bits] = 1.0
    x[:, 1 : length + 1, :bits] = y
    x[:, length + 1, bits + 1] = 1.0
    mask = torch.arange(2 * length + 2) >= length + 2
    return x, y, mask


@dataclass
class LabelledSequences:
    """Sequences and their classes.

    Attributes:
        x: (N, T, F) float32 in [0, 1]: 64 steps of 1 pixel, or 8 rows of 8 pixels.
        y: (N,) int64 digits 0..9.
        scan_ids: (N,) int64 indices into :func:`rnnkit.data.digits.load_scans`.
    """

    x: Tensor
    y: Tensor
    scan_ids: Tensor

    def __len__(self) -> int:
        return len(self.y)


def pixel_permutation(seed: int = 0) -> Tensor:
    """The fixed order of the permuted task: ``torch.randperm(64)`` from a generator at ``seed``."""
    return torch.randperm(SIZE * SIZE, generator=torch.Generator().manual_seed(seed))


def sequential_digits(
    *, order: str = "pixel", permuted: bool = False, seed: int = 0
) -> tuple[LabelledSequences, LabelledSequences, LabelledSequences]:
    """Sequential (and permuted) digits: scikit-learn's 8×8 scans read as sequences.

    The small offline twin of sequential / permuted MNIST (Le, Jaitly & Hinton 2015): the
    1,797 scans of ``sklearn.datasets.load_digits`` (0-16 ink scaled to [0, 1]) are read in
    row-major order, ``order="pixel"`` one pixel per step (64 steps × 1 feature) or
    ``order="row"`` one row per step (8 steps × 8 features). ``permuted`` first reorders the 64
    pixels by :func:`pixel_permutation` (``seed``), the same for every scan and every call.
    The splits are :func:`rnnkit.data.digits.split_scans` (``seed``): 70% / 10% / 20%,
    stratified by digit.

    Baseline: the classes are balanced (about 180 scans each), so a memoryless guess scores
    about 10% accuracy.

    Raises:
        RnnkitError: if scikit-learn is not installed (one line saying how to install it).

    Returns:
        (train, valid, test) :class:`LabelledSequences`.
    """
    check_choice("order", order, ("pixel", "row"))
    check_bool("permuted", permuted)
    check_int("seed", seed, 0)
    images, targets = load_scans()
    pixels = torch.tensor(images).reshape(-1, SIZE * SIZE)  # (1797, 64), row-major
    if permuted:
        pixels = pixels[:, pixel_permutation(seed)]
    shape = (SIZE * SIZE, 1) if order == "pixel" else (SIZE, SIZE)
    steps = pixels.reshape(-1, *shape)  # (1797, 64, 1) or (1797, 8, 8)
    labels = torch.tensor(targets)
    parts = []
    for ids in split_scans(seed=seed):
        index = torch.from_numpy(ids)
        parts.append(LabelledSequences(steps[index], labels[index], index))
    train, valid, test = parts
    return train, valid, test
