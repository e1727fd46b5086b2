"""A classifier's encoder from a pretrained language model (ULMFiT, Howard & Ruder 2018).

``rnnkit train classify --encoder LM_DIR`` starts the classifier's embedding and recurrent
stack from an ``rnnkit train lm`` checkpoint (word or character level): the recurrent layers
are copied as they are (so the classifier is unidirectional, with the LM's cell and sizes:
:func:`encoder_fields`), and the embedding row of each task token the LM knows is the LM's
row for it (exactly, else by lower case). Task tokens the LM never saw get new rows, started
at random as the rest of the classifier is: the LM's vocabulary does not limit the task's.

ULMFiT's second stage, fine-tuning the LM on the task's own texts first, reads them through
:func:`lm_stream`: the task's tokens as the LM's ids, one text per line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rnnkit.checkpoint import model_format
from rnnkit.data.word_vectors import Coverage, WordVectors, fill_embedding
from rnnkit.errors import CheckpointError
from rnnkit.tasks.classifier import SequenceClassifier
from rnnkit.tasks.language_model import FORMAT as LM_FORMAT
from rnnkit.tasks.language_model import LanguageModel

#: the classifier fields an encoder fixes, and the LM config field each comes from
FROM_LM = {"cell": "cell", "hidden_size": "hidden_size", "num_layers": "num_layers",
           "embedding_size": "embedding_size"}  # fmt: skip


def lm_config(directory: str | Path) -> dict[str, Any]:
    """The model section of a language model's ``config.json`` (one line if it is none)."""
    kind = model_format(directory)
    if kind != LM_FORMAT:
        raise CheckpointError(f"--encoder {directory}: a {kind} checkpoint, not a language "
                              "model (rnnkit train lm)")  # fmt: skip
    raw = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    return raw


def encoder_fields(directory: str | Path) -> tuple[dict[str, Any], str]:
    """The classifier's architecture fields the LM in ``directory`` fixes, and the tokenizer
    its vocabulary needs (``word`` or ``char``)."""
    raw = lm_config(directory)
    if raw.get("reverse") is True:
        raise CheckpointError(f"--encoder {directory}: a backward language model (train lm "
                              "--reverse); the classifier reads forwards")  # fmt: skip
    model = raw["model"]
    fields = {ours: model[theirs] for ours, theirs in FROM_LM.items()}
    fields["embedding_size"] = fields["embedding_size"] or model["hidden_size"]
    fields["bidirectional"] = False  # a forward LM has no backward direction to give
    unit = raw.get("vocab", {}).get("type", "char")
    return fields, "char" if unit == "char" else "word"


def load_encoder(model: SequenceClassifier, lm: LanguageModel) -> Coverage:
    """Copy the LM's recurrent layers into ``model.rnn`` and its embedding rows into the rows
    of the task tokens it knows (module docstring)."""
    if model.config.bidirectional:
        raise CheckpointError("--encoder: a bidirectional classifier cannot start from a "
                              "forward language model")  # fmt: skip
    ours, theirs = model.rnn.state_dict(), lm.rnn.state_dict()
    if set(ours) != set(theirs) or any(ours[k].shape != theirs[k].shape for k in ours):
        raise CheckpointError("--encoder: the language model's recurrent layers do not fit the "
                              "classifier's (cell, sizes, layers, regularizers)")  # fmt: skip
    model.rnn.load_state_dict(theirs)
    vocab = lm.vocab.itos[1:]  # after the LM's <unk>
    rows = lm.embedding.weight.detach()[1:].float().numpy()
    words = WordVectors(list(vocab), rows, source="the language model")
    return fill_embedding(model.embedding.weight, model.encoder.vocab.itos[2:], words, first=2)


def lm_stream(lm: LanguageModel, texts: list[list[str]]) -> torch.Tensor:
    """The task's tokenized texts as one stream of the LM's ids, each text ended as the LM
    ends a line (``<eos>`` for a word LM, a line break for a character LM). Tokens match the
    LM's vocabulary exactly, else by lower case; the others are its ``<unk>`` (id 0)."""
    stoi = lm.vocab.stoi
    folded: dict[str, int] = {}
    for token, i in stoi.items():
        folded.setdefault(token.lower(), i)
    end = stoi.get("<eos>" if lm.vocab.unit == "word" else "\n", 0)
    ids: list[int] = []
    for tokens in texts:
        ids += [stoi.get(t, folded.get(t.lower(), 0)) for t in tokens]
        ids.append(end)
    return torch.tensor(ids, dtype=torch.long)
