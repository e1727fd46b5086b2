import pytest
import torch

from rnnkit.data.vocab import UNK, CharVocab
from rnnkit.errors import VocabularyError


def test_round_trip_and_unknown_entry():
    vocab = CharVocab.from_text("hello world\n")
    text = "hold\nwere"
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.itos[0] == UNK and len(vocab) == len(set("hello world\n")) + 1
    assert vocab.encode("hz").tolist() == [vocab.stoi["h"], 0]


def test_strict_encoding_lists_missing_characters():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(VocabularyError, match=r"'x' 'é'"):
        vocab.encode("axbéx", strict=True)


def test_serialised_vocabulary_gives_same_ids():
    vocab = CharVocab.from_text("The quick brown fox.")
    again = CharVocab.from_dict(vocab.to_dict())
    assert torch.equal(again.encode("quick fox"), vocab.encode("quick fox"))
    assert again.itos == vocab.itos


def test_rejects_duplicate_characters():
    with pytest.raises(ValueError):
        CharVocab(["a", "a"])
