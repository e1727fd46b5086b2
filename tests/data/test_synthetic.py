"""The sorting task: targets sorted, ranges and lengths as asked, seeded, and CLI parsing."""

import pytest
import torch

from rnnkit.data.synthetic import parse_numbers, sorting_examples


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_targets_are_the_sorted_sequences_within_range():
    examples = sorting_examples(
        500, low=-5, high=5, min_length=2, max_length=7, generator=generator()
    )
    assert len(examples) == 500
    for sequence, target in examples:
        assert target == sorted(sequence)
        assert 2 <= len(sequence) <= 7
        assert all(isinstance(x, int) and -5 <= x <= 5 for x in sequence)
    values = {x for sequence, _ in examples for x in sequence}
    assert values == set(range(-5, 6))  # both ends of the range are drawn
    lengths = {len(sequence) for sequence, _ in examples}
    assert lengths == set(range(2, 8))  # both ends of the lengths too


def test_defaults_and_fixed_length():
    examples = sorting_examples(200, generator=generator())
    assert {len(s) for s, _ in examples} == set(range(1, 11))
    assert all(0 <= x <= 99 for s, _ in examples for x in s)
    same = sorting_examples(20, min_length=5, max_length=5, low=7, high=7, generator=generator())
    assert same == [([7] * 5, [7] * 5)] * 20
    assert sorting_examples(0, generator=generator()) == []


def test_deterministic_under_a_seeded_generator():
    first = sorting_examples(50, generator=generator(1))
    assert sorting_examples(50, generator=generator(1)) == first
    assert sorting_examples(50, generator=generator(2)) != first


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"count": -1}, "count must be an integer >= 0, got -1"),
        ({"min_length": 0}, "min_length must be a positive integer, got 0"),
        ({"min_length": 5, "max_length": 4}, "max_length must be an integer >= 5, got 4"),
        ({"low": 3, "high": 2}, "high must be an integer >= 3, got 2"),
        ({"low": 0.5}, "low must be an integer, got 0.5"),
    ],
)
def test_bad_options(options, message):
    options = {"count": 3, **options}
    with pytest.raises(ValueError, match=message):
        sorting_examples(generator=generator(), **options)


def test_parse_numbers():
    assert parse_numbers(["5", "3", "+9", "-1", "07"], low=-1, high=9) == [5, 3, 9, -1, 7]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["5", "x3"], r"^'x3' is not an integer; expected integers in \[0, 99\]$"),
        (["2.5"], r"^'2\.5' is not an integer"),
        (["٣"], r"^'٣' is not an integer"),  # int() would accept an Arabic-Indic digit
        (["1_0"], r"^'1_0' is not an integer"),
        (["100"], r"^100 is out of range; expected integers in \[0, 99\]$"),
        (["-1"], r"^-1 is out of range"),
        ([], r"^give at least one integer in \[0, 99\]$"),
    ],
)
def test_parse_errors_name_the_word(words, message):
    with pytest.raises(ValueError, match=message):
        parse_numbers(words, low=0, high=99)
