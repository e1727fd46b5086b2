r"""Reward-augmented maximum likelihood (RAML; Norouzi et al. 2016): train on targets near y*.

Maximum likelihood trains on the one gold target ``y*``. RAML trains on targets ``y`` drawn
from the *exponentiated payoff distribution* around it, so that near misses get some of the
probability mass in proportion to their reward ``r(y, y*)``::

    q(y | y*; τ) = exp(r(y, y*) / τ) / Z(y*, τ)          L_RAML = -E_{y ~ q} log p(y | x)

With the reward ``r = -d(y, y*)``, an edit distance, ``q`` depends on ``y`` only through
``e = d(y, y*)``, so it is sampled in two stages (stratified by distance, as in the paper):
first ``e`` from the distribution of distances, then ``e`` random edits of ``y*``.

**The distance.** For a target of ``m`` tokens over a vocabulary of ``V``, there are
``C(m, e) (V - 1)^e`` sequences at Hamming distance ``e``; weighting each by ``exp(-e / τ)``
would, for any useful ``τ``, put almost all the mass on ``e ≈ m`` when ``V`` is large. The
paper's released code rescales the reward by ``1 + ln(V - 1)`` per edit, which gives::

    q(e) ∝ C(m, e) · exp(-e / τ) · (V - 1)^(e - e / τ),      e = 0 … m

so ``τ`` means the same for any vocabulary (small ``τ``: mostly ``y*`` itself; ``τ = 1``: each
count cancels its rescaled reward). This counts substitutions only (the Hamming count), the
approximation the paper makes for edit distance.

**The edits.** ``e`` distinct positions of ``y*`` are chosen uniformly; each is, with equal
probability, substituted by another token, deleted, or preceded by an inserted token (edit
distance; ``substitutions_only`` keeps to the Hamming case). The sampled target is then at
edit distance at most ``e`` from ``y*`` (two edits can cancel).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from rnnkit.checks import check_positive

T = TypeVar("T")
EDITS = ("substitute", "delete", "insert")


def distance_distribution(m: int, vocab_size: int, tau: float) -> list[float]:
    """``q(e)`` for ``e = 0 … m`` (module docstring), summing to 1."""
    check_positive("tau", tau)
    log_v = math.log(max(vocab_size - 1, 1))
    log_w = [
        math.lgamma(m + 1) - math.lgamma(e + 1) - math.lgamma(m - e + 1)  # ln C(m, e)
        - e / tau + (e - e / tau) * log_v
        for e in range(m + 1)
    ]  # fmt: skip
    top = max(log_w)
    weights = [math.exp(w - top) for w in log_w]  # shifted by the largest: no overflow
    total = sum(weights)
    return [w / total for w in weights]


def sample_target(
    target: Sequence[T],
    vocabulary: Sequence[T],
    tau: float,
    rng: random.Random,
    *,
    substitutions_only: bool = False,
) -> list[T]:
    """One draw from ``q(y | target; τ)``: a distance ``e ~ q(e)``, then ``e`` random edits.

    ``vocabulary`` lists the tokens an edit may write (not the padding or end tokens). A
    deletion never empties the target: its last token is substituted instead.
    """
    q = distance_distribution(len(target), len(vocabulary), tau)
    e = rng.choices(range(len(q)), weights=q)[0]
    return apply_edits(target, vocabulary, e, rng, substitutions_only=substitutions_only)


def collate(
    batch: Callable[[Mapping[int, list[T]], list[int]], Any],
    targets: Sequence[Sequence[T]],
    vocabulary: Sequence[T],
    tau: float,
    seed: int,
) -> Callable[[list[int]], Any]:
    """A batch builder that draws each example's target from ``q(y | y*; tau)`` afresh:
    ``batch(drawn, order)`` gets ``{i: target}`` for the examples ``order``. Its generator is
    seeded by the run's seed and the batch's examples, so a resumed run draws the same
    targets."""

    def draw(order: list[int]) -> Any:
        rng = random.Random(f"raml:{seed}:{order}")
        return batch({i: sample_target(targets[i], vocabulary, tau, rng) for i in order}, order)

    return draw


def apply_edits(
    target: Sequence[T],
    vocabulary: Sequence[T],
    e: int,
    rng: random.Random,
    *,
    substitutions_only: bool = False,
) -> list[T]:
    """``target`` with ``e`` edits at ``e`` distinct positions, applied right to left."""
    edited = list(target)
    kept = len(edited)
    for position in sorted(rng.sample(range(len(edited)), e), reverse=True):
        edit = "substitute" if substitutions_only else rng.choice(EDITS)
        if edit == "delete" and kept == 1:
            edit = "substitute"  # a target keeps at least one token
        if edit == "substitute":
            edited[position] = _other(vocabulary, edited[position], rng)
        elif edit == "delete":
            del edited[position]
            kept -= 1
        else:
            edited.insert(position, rng.choice(vocabulary))
    return edited


def _other(vocabulary: Sequence[T], token: T, rng: random.Random) -> T:
    """A token of ``vocabulary`` other than ``token`` (``token`` itself if it is the only one)."""
    choices = [t for t in vocabulary if t != token] if len(vocabulary) < 64 else None
    if choices is not None:
        return rng.choice(choices) if choices else token
    while (other := rng.choice(vocabulary)) == token:  # large vocabularies: rejection is cheap
        pass
    return other
