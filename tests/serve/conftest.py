"""Small checkpoints of every kind the page serves, made once per test session."""

from pathlib import Path

import pytest
import torch

from rnnkit.data.pair_batches import PairEncoder
from rnnkit.data.tagging import TaggingEncoder
from rnnkit.data.tokenize import TextEncoder, Tokenizer, TokenVocab
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.tagger import Tagger, TaggerConfig

TEXT = "ROMEO: the quick brown fox jumps over the lazy dog.\nJULIET: hello, world!\n"
WORDS = ["win", "a", "free", "prize", "now", "see", "you", "at", "lunch", "call", "me"]
SENTENCES = [["The", "dog", "barks", "."], ["She", "runs", "fast"]]
TAGS = [["DET", "NOUN", "VERB", "PUNCT"], ["PRON", "VERB", "ADV"]]
PAIRS = [("cat", "t a c"), ("dog", "g o d"), ("act", "t c a")]


def language_model() -> LanguageModel:
    vocab = CharVocab.from_text(TEXT)
    config = LanguageModelConfig(vocab_size=len(vocab), hidden_size=12, num_layers=2)
    return LanguageModel(config, vocab)


def classifier() -> SequenceClassifier:
    encoder = TextEncoder(Tokenizer("word"), TokenVocab(WORDS), max_length=8)
    config = ClassifierConfig(len(encoder.vocab), 2, embedding_size=8, hidden_size=8,
                              pooling="mean", dropout=0.0)  # fmt: skip
    return SequenceClassifier(config, encoder, ["ham", "spam"])


def tagger() -> Tagger:
    encoder = TaggingEncoder.build(SENTENCES, TAGS)
    config = TaggerConfig(len(encoder.words), len(encoder.chars), len(encoder.tags),
                          word_embedding_size=8, char_embedding_size=4, char_hidden_size=4,
                          hidden_size=8, num_layers=1)  # fmt: skip
    return Tagger(config, encoder)


def seq2seq() -> Seq2Seq:
    sources = [tuple(s) for s, _ in PAIRS]
    encoder = PairEncoder.build(sources, [tuple(t.split()) for _, t in PAIRS])
    config = Seq2SeqConfig(len(encoder.source), len(encoder.target), embedding_size=8,
                           hidden_size=8, attention="additive")  # fmt: skip
    return Seq2Seq(config, encoder, task={"source_tokens": "char", "target_tokens": "space"})


MAKERS = {"lm": language_model, "spam": classifier, "pos": tagger, "g2p": seq2seq}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """name -> directory of a seeded, untrained model of each kind."""
    root = tmp_path_factory.mktemp("serve_models")
    dirs = {}
    for n, (name, make) in enumerate(MAKERS.items()):
        torch.manual_seed(n)
        make().save_pretrained(root / name)
        dirs[name] = root / name
    return dirs

