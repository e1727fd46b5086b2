"""Synthetic sequence-to-sequence tasks: sorting numbers.

The sorting task of pointer networks and Order Matters (Vinyals et al. 2015, 2016): the input
is a sequence of integers, the output the same integers in ascending order::

    [31, 4, 15, 9, 4] -> [4, 4, 9, 15, 31]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from rnnkit.checks import check_int

_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only, unlike int()

Example = tuple[list[int], list[int]]  # (sequence, sorted(sequence))


def sorting_examples(
    count: int,
    *,
    low: int = 0,
    high: int = 99,
    min_length: int = 1,
    max_length: int = 10,
    generator: torch.Generator,
) -> list[Example]:
    """Random sequences and their sorted versions.

    Each sequence has a length uniform in ``[min_length, max_length]`` and integers uniform in
    ``[low, high]`` (both ends included; repeats allowed). All lengths are drawn first, then
    all integers, so the same generator state gives the same examples.

    Args:
        count: number of examples (>= 0).
        low: smallest integer.
        high: largest integer (>= ``low``).
        min_length: shortest sequence (>= 1).
        max_length: longest sequence (>= ``min_length``).
        generator: the source of randomness, e.g. ``torch.Generator().manual_seed(0)``.

    Returns:
        ``count`` pairs ``(sequence, sorted(sequence))`` of Python lists.
    """
    check_int("count", count, 0)
    check_int("min_length", min_length, 1)
    check_int("max_length", max_length, min_length)
    if not isinstance(low, int) or isinstance(low, bool):
        raise ValueError(f"low must be an integer, got {low!r}")
    check_int("high", high, low)
    lengths = torch.randint(min_length, max_length + 1, (count,), generator=generator)  # (N,)
    values = torch.randint(low, high + 1, (int(lengths.sum()),), generator=generator)
    examples = []
    for sequence in values.split(lengths.tolist()):
        numbers = sequence.tolist()
        examples.append((numbers, sorted(numbers)))
    return examples


def parse_numbers(words: Sequence[str], *, low: int, high: int) -> list[int]:
    """Command-line words -> integers in ``[low, high]`` (``rnnkit sort 5 3 9 1``).

    Raises:
        ValueError: one line naming the first word that is not an integer (ASCII digits with
            an optional sign) or is outside ``[low, high]``, or saying there are no words.
    """
    if not words:
        raise ValueError(f"give at least one integer in [{low}, {high}]")
    numbers = []
    for word in words:
        if not _INTEGER.fullmatch(word):
            raise ValueError(f"{word!r} is not an integer; expected integers in [{low}, {high}]")
        number = int(word)
        if not low <= number <= high:
            raise ValueError(f"{word} is out of range; expected integers in [{low}, {high}]")
        numbers.append(number)
    return numbers
