"""De-duplication and stratified splits: exact sizes, per-label shares, determinism."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from rnnkit.data.records import LabelledCorpus, read_labelled
from rnnkit.data.splits import dedupe, split_corpus, split_indices, split_sizes, stratified_split

SMS = Path(__file__).parents[3] / "shared/data/sms-spam/SMSSpamCollection"


def make_labels(counts: dict[str, int], seed: int = 0) -> list[str]:
    labels = [label for label, n in counts.items() for _ in range(n)]
    order = np.random.default_rng(seed).permutation(len(labels))
    return [labels[i] for i in order]


def test_dedupe_keeps_first_occurrence_in_order():
    texts = ["a", "b", "a", "c", "b", "a", "A"]
    labels = ["x", "y", "z", "x", "y", "x", "x"]
    assert dedupe(texts, labels) == (["a", "b", "c", "A"], ["x", "y", "x", "x"], 3)
    assert dedupe([], []) == ([], [], 0)


@pytest.mark.parametrize("fractions", [(0.8, 0.2), (0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (1.0,)])
@pytest.mark.parametrize("counts", [{"ham": 4516, "spam": 655}, {"a": 7, "b": 3, "c": 1}])
def test_stratified_split_partitions_with_label_shares(fractions, counts):
    labels = make_labels(counts)
    splits = stratified_split(labels, labels, fractions, seed=3)
    assert [len(s) for s in splits] == split_sizes(len(labels), fractions)
    assert sorted(i for s in splits for i in s) == list(range(len(labels)))  # disjoint, complete
    assert all(s == sorted(s) for s in splits)
    for s, fraction in zip(splits[1:], fractions[1:], strict=True):
        got = Counter(labels[i] for i in s)
        for label, n in counts.items():
            assert abs(got[label] - fraction * n) < 1, (label, got[label], fraction * n)


def test_sms_sized_80_20_split_matches_sklearn_sizes():
    labels = make_labels({"ham": 4516, "spam": 655})
    train, test = stratified_split(labels, labels, (0.8, 0.2), seed=0)
    assert (len(train), len(test)) == (4136, 1035)
    sk_train, sk_test = train_test_split(labels, stratify=labels, test_size=0.2, random_state=0)
    assert (len(train), len(test)) == (len(sk_train), len(sk_test))
    assert Counter(labels[i] for i in test) == {"ham": 904, "spam": 131}


@pytest.mark.parametrize("n", [10, 97, 1000, 5171])
@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 0.3])
def test_split_sizes_agree_with_sklearn(n, test_size):
    sk_train, sk_test = train_test_split(np.arange(n), test_size=test_size, random_state=0)
    assert split_sizes(n, (1 - test_size, test_size)) == [len(sk_train), len(sk_test)]


def test_split_is_deterministic_and_seed_dependent():
    labels = make_labels({"a": 50, "b": 30})
    first = stratified_split(labels, labels, (0.6, 0.2, 0.2), seed=1)
    assert stratified_split(labels, labels, (0.6, 0.2, 0.2), seed=1) == first
    assert stratified_split(labels, labels, (0.6, 0.2, 0.2), seed=2) != first


def test_stratified_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(["a"], ["x"], (0.8, 0.3), seed=0)
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        stratified_split(["a", "b"], ["x"], (1.0,), seed=0)


def test_split_indices_test_set_depends_only_on_seed_and_test_fraction():
    labels = make_labels({"a": 60, "b": 40})
    plain = split_indices(labels, valid_fraction=0.0, test_fraction=0.2, seed=5)
    with_valid = split_indices(labels, valid_fraction=0.1, test_fraction=0.2, seed=5)
    assert with_valid.test == plain.test
    assert plain.valid == []
    assert (len(with_valid.train), len(with_valid.valid), len(with_valid.test)) == (70, 10, 20)
    assert Counter(labels[i] for i in with_valid.valid) == {"a": 6, "b": 4}
    everything = with_valid.train + with_valid.valid + with_valid.test
    assert sorted(everything) == list(range(100))
    with pytest.raises(ValueError, match="sum to less than 1"):
        split_indices(labels, valid_fraction=0.5, test_fraction=0.5, seed=0)


def test_split_corpus_dedupes_first():
    texts = [f"t{i % 40}" for i in range(60)]  # 20 repeats
    labels = ["a" if i % 40 < 25 else "b" for i in range(60)]
    corpus = LabelledCorpus(texts, labels, "src", 60)
    train, valid, test, removed = split_corpus(
        corpus, valid_fraction=0.1, test_fraction=0.1, seed=0
    )
    assert removed == 20
    assert (len(train), len(valid), len(test)) == (32, 4, 4)
    assert len(set(train.texts) | set(valid.texts) | set(test.texts)) == 40
    assert (train.source, test.source) == ("src (train)", "src (test)")
    *_, kept = split_corpus(
        corpus, valid_fraction=0.0, test_fraction=0.2, seed=0, dedupe_texts=False
    )
    assert kept == 0


def test_sms_spam_collection():
    if not SMS.is_file():
        pytest.skip(f"{SMS} not present")
    corpus = read_labelled(SMS)
    assert (corpus.read, corpus.skipped, corpus.label_set()) == (5574, {}, ["ham", "spam"])
    train, valid, test, removed = split_corpus(corpus, valid_fraction=0, test_fraction=0.2, seed=0)
    assert len(corpus) - removed == 5171
    assert (len(train), len(valid), len(test)) == (4136, 0, 1035)
    deduped = Counter(train.labels) + Counter(test.labels)
    assert deduped == {"ham": 4518, "spam": 653}
    assert Counter(test.labels) == {"ham": 904, "spam": 131}
