"""Train/validation/test splits of a labelled corpus: de-duplication and stratified sampling.

Split sizes follow scikit-learn's ``train_test_split(..., stratify=labels)``: a held-out split
of fraction ``f`` gets ``ceil(f * n)`` records and the training split what is left, so 5,171
texts split 80/20 give 4,136 / 1,035. Each label then contributes ``floor(f * n_label)`` records
to a held-out split, plus one more for the labels with the largest remainders until the
split's size is reached (largest-remainder rounding, as scikit-learn's ``_approximate_mode``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnnkit.data.records import LabelledCorpus

_DIGITS = 9  # f * n is rounded to this many decimals first, so 0.29 * 100 counts as 29


def dedupe(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str], int]:
    """Keep the first occurrence of each text (exact string equality), in order.

    A text seen again is dropped whatever its label, so a text with conflicting labels keeps
    the label of its first occurrence.

    Returns:
        (texts, labels, number of records removed).
    """
    _check_lengths(texts, labels)
    seen: set[str] = set()
    kept_texts, kept_labels = [], []
    for text, label in zip(texts, labels, strict=True):
        if text not in seen:
            seen.add(text)
            kept_texts.append(text)
            kept_labels.append(label)
    return kept_texts, kept_labels, len(texts) - len(kept_texts)


def split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Records per split: ``ceil(f * n)`` for every split after the first, the rest to the first."""
    sizes = [0] * len(fractions)
    left = n
    for s, fraction in enumerate(fractions[1:], start=1):
        sizes[s] = min(math.ceil(round(fraction * n, _DIGITS)), left)
        left -= sizes[s]
    sizes[0] = left
    return sizes


def stratified_split(
    texts: Sequence[str], labels: Sequence[str], fractions: tuple[float, ...], *, seed: int
) -> list[list[int]]:
    """Split record indices by label, keeping each label's share in every split.

    Each label's indices are shuffled with one ``numpy.random.default_rng(seed)`` (labels in
    sorted order) and cut into consecutive runs, one per split, of the sizes described in the
    module docstring: each split gets within one of ``fraction * n_label`` records of a label,
    and the split sizes are exactly :func:`split_sizes`.

    Args:
        texts: the records (only their number is used).
        labels: the label of each record.
        fractions: share of each split, summing to 1, e.g. ``(0.8, 0.1, 0.1)``; the first split
            absorbs the rounding.
        seed: the shuffle's seed; the same seed gives the same splits.

    Returns:
        One sorted list of indices per fraction; each index is in exactly one of them.
    """
    _check_lengths(texts, labels)
    if not fractions or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions!r}")
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    names = sorted(by_label)
    counts = _label_counts([len(by_label[name]) for name in names], fractions)  # [label][split]
    rng = np.random.default_rng(seed)
    splits: list[list[int]] = [[] for _ in fractions]
    for name, label_counts in zip(names, counts, strict=True):
        shuffled = rng.permutation(by_label[name]).tolist()
        start = 0
        for split, count in zip(splits, label_counts, strict=True):
            split.extend(shuffled[start : start + count])
            start += count
    return [sorted(split) for split in splits]


def _label_counts(label_sizes: list[int], fractions: Sequence[float]) -> list[list[int]]:
    """Records of each label in each split: rows are labels, columns splits."""
    sizes = split_sizes(sum(label_sizes), fractions)
    caps = list(label_sizes)  # records of each label not yet given to a held-out split
    columns = []
    for size, fraction in zip(sizes[1:], fractions[1:], strict=True):
        targets = [round(fraction * n, _DIGITS) for n in label_sizes]
        column = _largest_remainder(size, targets, caps)
        caps = [cap - c for cap, c in zip(caps, column, strict=True)]
        columns.append(column)
    return [[cap, *(column[i] for column in columns)] for i, cap in enumerate(caps)]


def _largest_remainder(size: int, targets: list[float], caps: list[int]) -> list[int]:
    """Integers summing to ``size``, each in ``[0, cap]``: floors of ``targets``, then one more
    to the largest remainders (ties to the earlier label)."""
    counts = [min(math.floor(t), cap) for t, cap in zip(targets, caps, strict=True)]
    while sum(counts) < size:
        room = [i for i, (c, cap) in enumerate(zip(counts, caps, strict=True)) if c < cap]
        counts[max(room, key=lambda i: (targets[i] - counts[i], -i))] += 1
    return counts


@dataclass(frozen=True)
class Split:
    """Indices of the training, validation and test records, each sorted."""

    train: list[int]
    valid: list[int]
    test: list[int]


def split_indices(
    labels: Sequence[str], *, valid_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Stratified train/valid/test indices, the test split taken first.

    The test split is cut from the whole corpus with ``seed``, so it depends only on ``seed``
    and ``test_fraction``; the validation split is then cut from the rest with ``seed + 1``.
    Both fractions are of the whole corpus: ``valid_fraction=0.1, test_fraction=0.1`` gives
    80/10/10. A fraction of 0 gives an empty split.
    """
    if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
        raise ValueError(
            "valid_fraction and test_fraction must be >= 0 and sum to less than 1, "
            f"got {valid_fraction} and {test_fraction}"
        )
    rest, test = stratified_split(labels, labels, (1 - test_fraction, test_fraction), seed=seed)
    share = valid_fraction / (1 - test_fraction)
    rest_labels = [labels[i] for i in rest]
    train, valid = stratified_split(rest_labels, rest_labels, (1 - share, share), seed=seed + 1)
    return Split([rest[i] for i in train], [rest[i] for i in valid], test)


def split_corpus(
    corpus: LabelledCorpus,
    *,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    dedupe_texts: bool = True,
) -> tuple[LabelledCorpus, LabelledCorpus, LabelledCorpus, int]:
    """Train, valid and test corpora, after dropping repeated texts (see :func:`split_indices`).

    De-duplication comes first, so no text is in two splits. ``valid_fraction=0`` gives an
    empty validation corpus, for the caller to handle.

    Returns:
        (train, valid, test, number of duplicate records removed).
    """
    removed = 0
    if dedupe_texts:
        texts, labels, removed = dedupe(corpus.texts, corpus.labels)
        corpus = LabelledCorpus(texts, labels, corpus.source, len(texts))
    split = split_indices(
        corpus.labels, valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed
    )
    train, valid, test = (
        corpus.subset(indices, name)
        for indices, name in ((split.train, "train"), (split.valid, "valid"), (split.test, "test"))
    )
    return train, valid, test, removed


def _check_lengths(texts: Sequence[str], labels: Sequence[str]) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
