"""RAML's target sampler: the distance distribution by hand, the edits by counting."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from rnnkit.training.metrics import edit_distance
from rnnkit.training.raml import apply_edits, distance_distribution, sample_target

VOCAB = list("abcdefgh")


def test_distance_distribution_by_hand() -> None:
    # m = 2, V = 3, τ = 1: C(2, e) e^-e 2^0 = 1, 2/e, 1/e²
    w = [1.0, 2 / math.e, 1 / math.e**2]
    assert distance_distribution(2, 3, 1.0) == pytest.approx([x / sum(w) for x in w])
    # m = 1, V = 3, τ = 0.5: 1 and C(1, 1) e^-2 2^(1 - 2)
    w = [1.0, math.exp(-2) / 2]
    assert distance_distribution(1, 3, 0.5) == pytest.approx([x / sum(w) for x in w])


def test_small_tau_keeps_the_gold_target() -> None:
    assert distance_distribution(10, 40, 0.05)[0] > 0.999
    means = [sum(e * p for e, p in enumerate(distance_distribution(10, 40, tau)))
             for tau in (0.5, 0.8, 0.9, 1.0)]  # fmt: skip
    assert means == sorted(means) and means[0] < 0.1 and means[-1] < 5  # more edits as τ grows


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan")])
def test_tau_must_be_positive(tau: float) -> None:
    with pytest.raises(ValueError, match="tau"):
        distance_distribution(3, 5, tau)


def test_sampled_distances_follow_q() -> None:
    rng, target, n = random.Random(0), list("abcde"), 20_000
    q = distance_distribution(len(target), len(VOCAB), 0.8)
    hamming = Counter(
        sum(a != b for a, b in zip(sample_target(target, VOCAB, 0.8, rng, substitutions_only=True),
                                   target, strict=True))
        for _ in range(n)
    )  # fmt: skip
    for e, p in enumerate(q):
        assert hamming[e] / n == pytest.approx(p, abs=0.015)


@pytest.mark.parametrize("e", [0, 1, 2, 3, 4])
def test_edits(e: int) -> None:
    rng, target = random.Random(e), list("abcd")
    for _ in range(200):
        substituted = apply_edits(target, VOCAB, e, rng, substitutions_only=True)
        assert (
            len(substituted) == 4
            and sum(a != b for a, b in zip(substituted, target, strict=True)) == e
        )
        edited = apply_edits(target, VOCAB, e, rng)
        assert edit_distance(edited, target) <= e and edited
        assert set(edited) <= set(VOCAB)


def test_seeded_draws_repeat() -> None:
    first = [sample_target(list("abcdef"), VOCAB, 1.0, random.Random(7)) for _ in range(3)]
    again = [sample_target(list("abcdef"), VOCAB, 1.0, random.Random(7)) for _ in range(3)]
    assert first == again
