"""Word vocabulary and word-level corpora: <eos> per line, <unk>, limits, splits (hand cases)."""

import pytest
import torch

from rnnkit.data.lm_corpus import split_files, split_lines, word_corpus
from rnnkit.data.vocab import CharVocab, WordVocab, vocab_from_dict
from rnnkit.errors import DataError, VocabularyError

TEXT = "the cat sat\n\nthe dog sat\nthe end"


def test_every_line_ends_in_eos_blank_lines_too():
    assert WordVocab.tokens(TEXT) == [
        "the", "cat", "sat", "<eos>", "<eos>", "the", "dog", "sat", "<eos>", "the", "end", "<eos>",
    ]  # fmt: skip
    assert WordVocab.tokens("a b\n") == ["a", "b", "<eos>"]  # a final newline adds no line


def test_ids_follow_counts_then_the_word():
    vocab = WordVocab.from_text(TEXT)
    # counts: <eos> 4, the 3, sat 2, then cat dog end (1 each, alphabetical)
    assert vocab.itos == ["<unk>", "<eos>", "the", "sat", "cat", "dog", "end"]


def test_max_size_and_min_freq_send_rare_words_to_unk():
    assert WordVocab.from_text(TEXT, max_size=4).itos == ["<unk>", "<eos>", "the", "sat"]
    assert WordVocab.from_text(TEXT, min_freq=2).itos == ["<unk>", "<eos>", "the", "sat"]
    vocab = WordVocab.from_text(TEXT, min_freq=2)
    assert vocab.encode("the cat sat").tolist() == [2, 0, 3, 1]


def test_unk_in_the_text_is_the_unknown_id():
    vocab = WordVocab.from_text("a <unk> b\n")
    assert "<unk>" not in vocab.itos[1:]
    assert vocab.encode("a <unk> zebra").tolist() == [vocab.stoi["a"], 0, 0, 1]


def test_strict_encoding_names_the_missing_words():
    vocab = WordVocab.from_text(TEXT)
    with pytest.raises(VocabularyError, match="'zebra' 'yak'"):
        vocab.encode("the zebra yak", strict=True)
    assert vocab.missing("the zebra the yak") == ["zebra", "yak"]


def test_decode_joins_words_and_breaks_lines_at_eos():
    vocab = WordVocab.from_text(TEXT)
    assert vocab.decode(vocab.encode("the cat\n\nthe dog")) == "the cat\n\nthe dog\n"
    assert vocab.decode(torch.tensor([2, 4])) == "the cat"


def test_vocabularies_round_trip_through_their_dicts():
    words, chars = WordVocab.from_text(TEXT), CharVocab.from_text("abc")
    assert vocab_from_dict(words.to_dict()).itos == words.itos
    assert vocab_from_dict(chars.to_dict()).itos == chars.itos
    with pytest.raises(ValueError, match="not a vocabulary"):
        vocab_from_dict({"type": "bytes"})


def test_the_vocabulary_is_built_on_train_only():
    corpus = word_corpus("a b a\n", "a c\n", "c d\n")
    assert corpus.vocab.itos == ["<unk>", "a", "<eos>", "b"]  # a 2, <eos> 1, b 1
    assert corpus.train.tolist() == [1, 3, 1, 2]
    assert corpus.valid.tolist() == [1, 0, 2]  # c is unseen in training: <unk>
    assert corpus.test.tolist() == [0, 0, 2]


def test_one_text_is_split_by_whole_lines():
    assert split_lines("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", 0.2) == (
        "1\n2\n3\n4\n5\n6\n7\n8\n",
        "9\n10\n",
    )
    corpus = word_corpus("x y\n" * 9 + "x z\n", valid_fraction=0.1)
    assert "z" not in corpus.vocab.stoi and corpus.valid.tolist() == [2, 0, 1]  # x <unk> <eos>


def test_split_files_finds_wikitext_names(tmp_path):
    for name in ("wiki.train.tokens", "wiki.valid.tokens"):
        (tmp_path / name).write_text("a\n")
    found = split_files(tmp_path)
    assert found == {
        "train": tmp_path / "wiki.train.tokens",
        "valid": tmp_path / "wiki.valid.tokens",
    }
    with pytest.raises(DataError, match="no valid.txt or wiki.valid.tokens"):
        (tmp_path / "wiki.valid.tokens").unlink()
        split_files(tmp_path)
