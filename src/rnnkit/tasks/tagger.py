"""Sequence tagger: words + their spelling -> bidirectional recurrent stack -> tag scores.

For each word ``w_t`` of a sentence::

    e_t = [ E_word[w_t] ; charRNN(w_t) ; x_t ]    word embedding and a BiRNN over its characters
    o_1..o_T = BiRNN_stack(dropout(e_1..e_T))     any rnnkit cell, layers, regularizers, residual
    s_t = W dropout(o_t) + b                      emission scores, (K,)

and the tags come from ``softmax(s_t)`` per word, or from a linear-chain CRF over ``s_1..s_T``
(:class:`~rnnkit.layers.LinearChainCRF`: forward algorithm for the loss, Viterbi to decode).
``charRNN(w)`` is the concatenation of the final states of a bidirectional LSTM over ``w``'s
characters, so words unseen in training still get a vector (Plank et al. 2016; Lample et al.
2016). ``x_t``, optional, is the word's contextual string embedding from two frozen
character LMs over the whole sentence (:mod:`rnnkit.tasks.contextual`; Akbik et al. 2018):
the LMs are submodules, saved in the tagger's checkpoint, their configs and vocabularies in
its ``config.json`` (``char_lms``). Word dropout replaces a training word's id by ``<unk>``
with probability ``word_dropout``, so the ``<unk>`` embedding is trained for the words it
will meet at test time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.conllu import COLUMNS
from rnnkit.data.padded import iter_batches
from rnnkit.data.tagging import PAD_TAG, TagBatch, TaggingEncoder
from rnnkit.errors import CheckpointError
from rnnkit.layers import LSTM, LinearChainCRF
from rnnkit.layers.stacks import recurrent_stack
from rnnkit.options import PROBABILITY, option
from rnnkit.tasks.classifier import CELLS
from rnnkit.tasks.contextual import ContextualEmbeddings
from rnnkit.tasks.language_model import FORMAT as LM_FORMAT
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.pretrained import Pretrained, check_model_fields, size_problem

FORMAT = "rnnkit.tagger/1"


@dataclass(frozen=True)
class TaggerConfig:
    """Architecture of a :class:`Tagger`."""

    word_vocab_size: int
    char_vocab_size: int
    num_tags: int
    cell: str = option("lstm", "recurrent cell of the sentence stack", choices=tuple(CELLS))
    word_embedding_size: int = option(100, "word embedding width", low=1, high=65536)
    char_embedding_size: int = option(32, "character embedding width", low=1, high=65536)
    char_hidden_size: int = option(64, "character BiLSTM units per direction", low=1, high=65536)
    hidden_size: int = option(200, "sentence BiRNN units per direction", low=1, high=65536)
    num_layers: int = option(2, "stacked bidirectional layers", low=1, high=64)
    dropout: float = option(
        0.33, "dropout on inputs, between layers, before the output", **PROBABILITY
    )
    word_dropout: float = option(
        0.1, "training words replaced by <unk> with this probability", **PROBABILITY
    )
    residual: bool = option(False, "residual connections between the stacked layers")
    crf: bool = option(False, "decode with a linear-chain CRF instead of a per-word softmax")

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {self.num_tags}")
        if self.residual and self.num_layers < 2:
            raise ValueError("residual connections need num_layers >= 2")


class CharWords(nn.Module):
    """(B, T, L) character ids -> (B, T, 2 Hc): a BiLSTM's final states over each word."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.rnn = LSTM(embedding_size, hidden_size, batch_first=True, bidirectional=True)
        self.width = 2 * hidden_size

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        B, T, _ = chars.shape
        present = torch.arange(T, device=chars.device) < lengths.to(chars.device)[:, None]
        # each distinct spelling once: a batch repeats "the", ",", "." many times
        words, inverse = torch.unique(chars[present], dim=0, return_inverse=True)  # (U, L), (N,)
        spelled = (words > 0).sum(-1)  # (U,) characters per word
        _, (h_n, _) = self.rnn(self.embedding(words), lengths=spelled)  # h_n: (2, U, Hc)
        out = chars.new_zeros(B, T, self.width, dtype=h_n.dtype)
        out[present] = torch.cat([h_n[0], h_n[1]], dim=-1)[inverse]
        return out


class Tagger(Pretrained):
    """Tags each word of a sentence; see the module docstring for the architecture.

    ``encoder`` (words -> ids, the tag set) and ``column`` (the CoNLL-U column it predicts)
    travel with the model into its checkpoint, so ``tag(sentences)`` needs nothing else; so do
    ``char_lms`` (forward, backward), the frozen character LMs of contextual string embeddings.
    """

    FORMAT, KIND = FORMAT, "tagger"
    CONFIG = TaggerConfig
    METRICS = ("accuracy",)  # what evaluate() measures

    def __init__(
        self,
        config: TaggerConfig,
        encoder: TaggingEncoder | None = None,
        *,
        column: str = "UPOS",
        char_lms: tuple[LanguageModel, LanguageModel] | None = None,
    ) -> None:
        super().__init__()
        self.config, self.encoder, self.column = config, encoder, column
        self.word_embedding = nn.Embedding(config.word_vocab_size, config.word_embedding_size)
        self.char_words = CharWords(
            config.char_vocab_size, config.char_embedding_size, config.char_hidden_size
        )
        self.contextual = ContextualEmbeddings(*char_lms) if char_lms is not None else None
        contextual_width = self.contextual.width if self.contextual is not None else 0
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = recurrent_stack(
            config.cell,
            config.word_embedding_size + self.char_words.width + contextual_width,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=True,
            dropout=config.dropout,
            residual=config.residual,
            fused=True,  # an LSTM trains on rnnkit's fused CPU kernels (FusedLSTM)
        )
        self.proj = nn.Linear(2 * config.hidden_size, config.num_tags)
        self.crf = LinearChainCRF(config.num_tags) if config.crf else None

    def forward(self, batch: TagBatch) -> Tensor:
        """Emission scores (B, T, K)."""
        words = batch.words
        if self.training and self.config.word_dropout > 0:
            dropped = torch.rand(words.shape, device=words.device) < self.config.word_dropout
            words = words.masked_fill(dropped & (words > 1), 1)  # id 1 is <unk>
        features = [self.word_embedding(words), self.char_words(batch.chars, batch.lengths)]
        if self.contextual is not None:
            if batch.sentences is None:
                raise ValueError("a tagger with character LMs reads the batch's sentences "
                                 "(TaggingEncoder.batch gives them)")  # fmt: skip
            features.append(self.contextual(batch.sentences, words.shape[1]))  # (B, T, Hf+Hb)
        x = torch.cat(features, -1)
        out, _ = self.rnn(self.dropout(x), lengths=batch.lengths)  # (B, T, 2H)
        return self.proj(self.dropout(out))  # (B, T, K)

    def decode(self, emissions: Tensor, lengths: Tensor) -> Tensor:
        """Best tags (B, T): Viterbi with a CRF, else the per-word argmax."""
        if self.crf is not None:
            return self.crf.decode_tensor(emissions, lengths)
        return emissions.argmax(-1)

    # -- the Trainer's contract -------------------------------------------------------

    def loss(self, batch: TagBatch) -> tuple[Tensor, dict[str, Any]]:
        """Mean loss per word: CRF negative log-likelihood, or cross-entropy."""
        emissions = self(batch)
        if self.crf is not None:
            loss = self.crf.nll(emissions, batch.tags, batch.lengths, reduction="token_mean")
        else:
            loss = F.cross_entropy(
                emissions.flatten(0, 1), batch.tags.flatten(), ignore_index=PAD_TAG
            )
        return loss, {"tokens": int(batch.lengths.sum())}

    def evaluate(self, batches: Iterable[TagBatch]) -> dict[str, float]:
        """Word accuracy (a gold tag unseen in training counts as an error)."""
        correct = total = 0
        for batch in batches:
            predicted = self.decode(self(batch), batch.lengths)
            valid = batch.tags != PAD_TAG
            correct += int((predicted.eq(batch.tags) & valid).sum())
            total += int(valid.sum())
        return {"accuracy": correct / max(total, 1)}

    # -- prediction -------------------------------------------------------------------

    @torch.no_grad()
    def predict_ids(
        self, sentences: Sequence[Sequence[str]], *, batch_size: int = 64
    ) -> list[list[int]]:
        """Tag ids of each sentence (lists of words), in the given order."""
        if self.encoder is None:
            raise CheckpointError("this tagger has no encoder (vocabularies, tag set)")
        was_training = self.training
        self.eval()
        result: list[list[int]] = [[] for _ in sentences]
        collate = lambda order: self.encoder.batch(sentences, None, order)  # noqa: E731
        for batch in iter_batches(sentences, None, batch_size, collate=collate):
            best = self.decode(self(batch), batch.lengths).tolist()
            for row, i in enumerate(batch.index.tolist()):
                result[i] = best[row][: len(sentences[i])]
        self.train(was_training)
        return result

    def tag(self, sentences: Sequence[Sequence[str]], *, batch_size: int = 64) -> list[list[str]]:
        """Tag names of each sentence's words."""
        names = self.encoder.tags
        return [
            [names[i] for i in ids] for ids in self.predict_ids(sentences, batch_size=batch_size)
        ]

    # -- checkpoints ----------------------------------------------------------------

    def extras_problem(self) -> str | None:
        if self.column not in COLUMNS[2:]:  # not ID or FORM: what is predicted
            return f"field column: must be one of {', '.join(COLUMNS[2:])}, got {self.column!r}"
        if self.encoder is None:
            return None
        sizes = (("words", "word_vocab_size"), ("chars", "char_vocab_size"), ("tags", "num_tags"))
        for name, size in sizes:
            found = len(getattr(self.encoder, name))
            problem = size_problem(f"encoder.{name}", found, "entries", size,
                                   getattr(self.config, size))  # fmt: skip
            if problem is not None:
                return problem
        return None

    def checkpoint_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {"column": self.column}
        if self.encoder is not None:
            extras["encoder"] = self.encoder.to_dict()
        if self.contextual is not None:  # each as its own config.json says it (reverse too)
            extras["char_lms"] = {
                role: {"format": LM_FORMAT, "model": asdict(lm.config), **lm.checkpoint_extras()}
                for role, lm in self.char_lms().items()
            }
        return extras

    def char_lms(self) -> dict[str, LanguageModel]:
        """``{"forward": lm, "backward": lm}`` (empty without contextual string embeddings)."""
        if self.contextual is None:
            return {}
        return {"forward": self.contextual.forward_lm, "backward": self.contextual.backward_lm}

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> Tagger:
        encoder = TaggingEncoder.from_dict(raw["encoder"]) if "encoder" in raw else None
        char_lms = char_lms_from_config(raw["char_lms"]) if "char_lms" in raw else None
        return cls(TaggerConfig(**raw["model"]), encoder, column=str(raw.get("column", "UPOS")),
                   char_lms=char_lms)  # fmt: skip


def char_lms_from_config(raw: Any) -> tuple[LanguageModel, LanguageModel]:
    """The (untrained) forward and backward LMs ``config.json``'s ``char_lms`` describes."""
    if not isinstance(raw, dict) or set(raw) != {"forward", "backward"}:
        raise ValueError("char_lms must be an object with forward and backward")
    models = []
    for role in ("forward", "backward"):
        record = raw[role]
        if not isinstance(record, dict) or record.get("format") != LM_FORMAT:
            raise ValueError(f"char_lms.{role} is not a language model's config")
        try:
            fields = check_model_fields(LanguageModelConfig, record.get("model"))
        except ValueError as e:
            raise ValueError(f"char_lms.{role}: {e}") from None
        models.append(LanguageModel.from_checkpoint_config({**record, "model": fields}))
        if "vocab" not in record or models[-1].reverse != (role == "backward"):
            raise ValueError(f"char_lms.{role}: a vocabulary and reverse={role == 'backward'} "
                             "are required")  # fmt: skip
        if (problem := models[-1].extras_problem()) is not None:  # e.g. vocab vs vocab_size
            raise ValueError(f"char_lms.{role}: {problem}")
    return models[0], models[1]
