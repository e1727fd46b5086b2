"""A model's input embedding and the words its rows stand for: seeded from, and written as,
word vectors.

``--word-vectors FILE`` (classify, tag, seq2seq) copies pretrained vectors into the rows of the
words it finds (:func:`apply_word_vectors`); ``rnnkit export --format word-vectors`` writes the
rows back out in the word2vec text layout (:func:`export_word_vectors`), so the vectors one
rnnkit model learnt can seed another.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from torch import nn

from rnnkit.data.word_vectors import Coverage, fill_embedding, read_word_vectors, write_word2vec
from rnnkit.errors import CheckpointError


class InputWords(NamedTuple):
    """The embedding, the words of its rows ``first, first + 1, …`` (after the specials)."""

    embedding: nn.Embedding
    words: list[str]
    first: int


def input_words(model: nn.Module) -> InputWords:
    """The input embedding of a classifier, a tagger (its word embedding), a seq2seq model (its
    source embedding) or a language model, with its vocabulary."""
    from rnnkit.tasks.classifier import SequenceClassifier
    from rnnkit.tasks.language_model import LanguageModel
    from rnnkit.tasks.seq2seq import Seq2Seq
    from rnnkit.tasks.tagger import Tagger

    if isinstance(model, SequenceClassifier) and model.encoder is not None:
        return InputWords(model.embedding, model.encoder.vocab.itos[2:], 2)
    if isinstance(model, Tagger) and model.encoder is not None:
        return InputWords(model.word_embedding, model.encoder.words.itos[2:], 2)
    if isinstance(model, Seq2Seq) and model.encoder is not None:
        return InputWords(model.source_embedding, model.encoder.source.itos[2:], 2)
    if isinstance(model, LanguageModel) and model.vocab is not None:
        return InputWords(model.embedding, model.vocab.itos[1:], 1)
    raise CheckpointError(f"a {type(model).__name__} has no input word embedding with a vocabulary")


def apply_word_vectors(model: nn.Module, path: str | Path, *, freeze: bool = False) -> Coverage:
    """Copy the vectors in ``path`` into the rows of the words they cover (the others keep
    their random start); ``freeze``: the embedding does not train."""
    embedding, words, first = input_words(model)
    coverage = fill_embedding(embedding.weight, words, read_word_vectors(path), first=first)
    embedding.weight.requires_grad_(not freeze)
    return coverage


def export_word_vectors(model: nn.Module, path: str | Path) -> int:
    """Write the input embedding's rows in the word2vec text layout; returns the words written
    (a token holding white space, such as a character model's space, cannot be written and is
    left out)."""
    embedding, words, first = input_words(model)
    weight = embedding.weight.detach().float().cpu().numpy()
    rows = [(w, first + i) for i, w in enumerate(words) if w and not any(c.isspace() for c in w)]
    write_word2vec(path, [w for w, _ in rows], weight[[i for _, i in rows]])
    return len(rows)
