import json
import random

import pytest

from rnnkit.data.tokenize import PAD, UNK, Tokenizer, TokenVocab


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Don't panic!", ["don't", "panic", "!"]),
        ("l’homme qu'il a vu", ["l’homme", "qu'il", "a", "vu"]),
        ("e-mail, 3.5 ...", ["e", "-", "mail", ",", "3", ".", "5", ".", ".", "."]),
        ("  rock'n'roll  'quoted' ", ["rock'n'roll", "'", "quoted", "'"]),
        ("", []),
        ("   \n\t", []),
    ],
)
def test_word_tokenizer_hand_cases(text, tokens):
    assert Tokenizer("word")(text) == tokens


def test_lowercase_is_optional():
    assert Tokenizer("word", lowercase=False)("Hello World") == ["Hello", "World"]
    assert Tokenizer("word", lowercase=True)("Hello World") == ["hello", "world"]


def test_char_tokenizer_keeps_every_character():
    assert Tokenizer("char", lowercase=False)("Ab c!") == ["A", "b", " ", "c", "!"]
    assert Tokenizer("char")("Ab") == ["a", "b"]


def test_tokenizer_rejects_unknown_kind_and_round_trips():
    with pytest.raises(ValueError, match=r"one of \('char', 'word'\), got 'bpe'"):
        Tokenizer("bpe")
    tok = Tokenizer("char", lowercase=False)
    assert Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict()))) == tok
    with pytest.raises(ValueError):
        Tokenizer.from_dict({"kind": "word"})


CORPUS = [["b", "a", "c"], ["a", "b", "a"], ["d", "a"], ["c", "b", "e"]]  # a4 b3 c2 d1 e1


def test_vocab_orders_by_count_then_token_with_specials_first():
    vocab = TokenVocab.build(CORPUS)
    assert vocab.itos == [PAD, UNK, "a", "b", "c", "d", "e"]
    assert vocab.stoi[PAD] == 0 and vocab.stoi[UNK] == 1 and len(vocab) == 7


def test_vocab_min_freq_and_max_size_counts_specials():
    assert TokenVocab.build(CORPUS, min_freq=2).itos == [PAD, UNK, "a", "b", "c"]
    assert TokenVocab.build(CORPUS, max_size=4).itos == [PAD, UNK, "a", "b"]
    assert TokenVocab.build(CORPUS, max_size=2).itos == [PAD, UNK]
    with pytest.raises(ValueError):
        TokenVocab.build(CORPUS, max_size=1)
    with pytest.raises(ValueError):
        TokenVocab.build(CORPUS, min_freq=0)


def test_vocab_is_deterministic_under_reordering():
    lists = [[random.Random(i).choice("abcdefgh") for _ in range(5)] for i in range(40)]
    shuffled = lists[:]
    random.Random(0).shuffle(shuffled)
    assert TokenVocab.build(lists).itos == TokenVocab.build(shuffled).itos


def test_vocab_ignores_specials_in_text():
    assert TokenVocab.build([[PAD, UNK, "x"]]).itos == [PAD, UNK, "x"]


def test_encode_unknown_and_decode():
    vocab = TokenVocab.build(CORPUS)
    ids = vocab.encode(["a", "zzz", "e"])
    assert ids == [2, 1, 6]
    assert vocab.decode(ids) == ["a", UNK, "e"]


def test_vocab_round_trips_through_json():
    vocab = TokenVocab.build(CORPUS, min_freq=2)
    again = TokenVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again.itos == vocab.itos and again.stoi == vocab.stoi


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"type": "char", "specials": [PAD, UNK], "tokens": []},
        {"type": "token", "tokens": ["a"]},
        {"type": "token", "specials": [PAD, UNK], "tokens": "ab"},
        {"type": "token", "specials": [PAD, UNK], "tokens": ["a", 3]},
        {"type": "token", "specials": [PAD, UNK], "tokens": ["a", "a"]},
        {"type": "token", "specials": [PAD, UNK], "tokens": [PAD]},
    ],
)
def test_vocab_from_dict_rejects_malformed(bad):
    with pytest.raises(ValueError):
        TokenVocab.from_dict(bad)


def test_digits_as_zero_gives_numbers_of_one_shape_one_token():
    tokenizer = Tokenizer("word", digits_as_zero=True)
    assert tokenizer("Call 09061701461 or 08712300220!") == [
        "call", "00000000000", "or", "00000000000", "!"]  # fmt: skip
    assert Tokenizer.from_dict(tokenizer.to_dict()) == tokenizer
    assert Tokenizer.from_dict({"kind": "char", "lowercase": False}).digits_as_zero is False
