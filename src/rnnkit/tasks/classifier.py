"""Sequence classifier: embedding -> recurrent stack -> pooling -> dropout -> linear.

``forward(tokens (B, T), lengths (B,)) -> logits (B, C)``. Pooling turns the (B, T, H')
outputs (H' = H, or 2H bidirectional) into one (B, H') vector per sequence, ignoring padding:

- ``last``: the final state of the last layer (both directions' when bidirectional: the
  forward one at each sequence's own end, the backward one at its start);
- ``mean`` / ``max``: over the positions within each sequence's length;
- ``attention``: additive attention pooling (Yang et al. 2016),
  ``a = softmax_t(v^T tanh(W o_t + b))`` over valid positions, ``z = sum_t a_t o_t``;
- ``concat``: ``[last; max; mean]``, (B, 3H') (ULMFiT's concat pooling, Howard & Ruder 2018).

With ``ngram_buckets`` N > 0 a linear bag-of-n-grams path is added to the logits (the "wide"
half of wide & deep, Cheng et al. 2016; fastText's hashed n-grams, Joulin et al. 2017)::

    g_u = u mod N                                 unigram u (a token id)
    g_uv = (P * u + v + 1) mod N                  bigram u v, P = 1,000,003
    logits = W z + b + mean_{g in grams(x)} E[g]  E: (N, C), zero at the start

The recurrent path learns what order and context say; the bag path learns, from the first
update, what single words and pairs say (docs/classification.md has the measurements).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.activations import tanh
from rnnkit.data.padded import PaddedBatch, iter_batches
from rnnkit.data.tokenize import TextEncoder
from rnnkit.errors import CheckpointError
from rnnkit.layers import stacks
from rnnkit.options import PROBABILITY, option
from rnnkit.tasks.pretrained import Pretrained, size_problem

FORMAT = "rnnkit.sequence_classifier/1"
#: the cells a classifier (and a tagger) can use: rows of :data:`rnnkit.layers.stacks.CELLS`
CELLS = ("lstm", "gru", "rnn", "layer_norm_lstm", "peephole_lstm")
BIGRAM_PRIME = 1_000_003  # P in the bigram hash (module docstring)
CONCAT = ("last", "max", "mean")  # the parts of concat pooling, in order
POOLINGS = ("last", "mean", "max", "attention", "concat")


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of a :class:`SequenceClassifier`."""

    vocab_size: int
    num_classes: int
    cell: str = option("lstm", "recurrent cell", choices=tuple(CELLS))
    embedding_size: int = option(64, "embedding width", low=1, high=65536)
    hidden_size: int = option(128, "units per recurrent layer (per direction)", low=1, high=65536)
    num_layers: int = option(1, "stacked recurrent layers", low=1, high=64)
    bidirectional: bool = option(False, "read each sequence in both directions")
    pooling: str = option("max", "sequence -> vector", choices=POOLINGS)
    dropout: float = option(
        0.3, "dropout on embeddings, between layers and before the output", **PROBABILITY
    )
    zoneout: float = option(
        0.0, "zoneout on the recurrent state (Krueger et al. 2017)", **PROBABILITY
    )
    weight_drop: float = option(0.0, "DropConnect on the recurrent weights", **PROBABILITY)
    recurrent_dropout: float = option(
        0.0, "dropout on the candidate (Semeniuta 2016)", **PROBABILITY
    )
    ngram_buckets: int = option(
        0, "hashed word 1-2-gram buckets of a linear bag-of-n-grams path (0: none)",
        low=0, high=1 << 24,
    )
    class_weights: tuple[float, ...] | None = None  # loss weight per class; None: equal

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.ngram_buckets < 0:
            raise ValueError(f"ngram_buckets must be >= 0, got {self.ngram_buckets!r}")
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.class_weights is not None and len(self.class_weights) != self.num_classes:
            raise ValueError(f"class_weights needs {self.num_classes} values")


def recurrent_stack(config: ClassifierConfig) -> nn.Module:
    """The drop-in layer for ``config``: native kernel unless a cell or regularizer needs more."""
    return stacks.recurrent_stack(
        config.cell,
        config.embedding_size,
        config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout,
        fused=True,  # an LSTM trains on rnnkit's fused CPU kernels: no packed, quadratic backward
        zoneout=config.zoneout,
        weight_drop=config.weight_drop,
        recurrent_dropout=config.recurrent_dropout,
    )


class SequenceClassifier(Pretrained):
    """Labels whole sequences; see the module docstring for the architecture.

    ``encoder`` (text -> ids) and ``labels`` (class names) travel with the model into its
    checkpoint, so ``classify(texts)`` needs nothing else.
    """

    FORMAT, KIND = FORMAT, "sequence-classifier"
    CONFIG = ClassifierConfig
    METRICS = ("loss", "accuracy")  # what evaluate() measures; the first picks the best model

    def __init__(
        self,
        config: ClassifierConfig,
        encoder: TextEncoder | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.config, self.encoder = config, encoder
        self.labels = (
            list(labels) if labels is not None else [str(i) for i in range(config.num_classes)]
        )
        width = config.hidden_size * (2 if config.bidirectional else 1)  # H'
        pooled = 3 * width if config.pooling == "concat" else width
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=0)
        self.rnn = recurrent_stack(config)
        self.dropout = nn.Dropout(config.dropout)
        self.attention = AttentionPooling(width) if config.pooling == "attention" else None
        self.proj = nn.Linear(pooled, config.num_classes)
        self.ngrams = None
        if config.ngram_buckets:
            self.ngrams = nn.Embedding(config.ngram_buckets, config.num_classes)
            nn.init.zeros_(self.ngrams.weight)
        weights = config.class_weights
        self.register_buffer(
            "class_weights", None if weights is None else torch.tensor(weights), persistent=False
        )

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, lengths=lengths)  # (B, T, H'), final states
        logits = self.proj(self.dropout(self.pool(out, state, lengths)))  # (B, C)
        return logits if self.ngrams is None else logits + self.bag_of_ngrams(tokens, lengths)

    def bag_of_ngrams(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """(B, T) ids -> (B, C): the mean of the hashed 1- and 2-grams' rows (docstring)."""
        N = self.config.ngram_buckets
        valid = torch.arange(tokens.shape[1], device=tokens.device) < lengths[:, None]  # (B, T)
        unigrams = tokens % N
        bigrams = (tokens[:, :-1] * BIGRAM_PRIME + tokens[:, 1:] + 1) % N  # (B, T - 1)
        grams = torch.cat([unigrams, bigrams], dim=1)  # (B, 2T - 1)
        weights = torch.cat([valid, valid[:, 1:]], dim=1).to(self.ngrams.weight.dtype)
        summed = torch.einsum("bg,bgc->bc", weights, self.ngrams(grams))
        return summed / weights.sum(1, keepdim=True)  # (B, C)

    def pool(self, out: Tensor, state: Any, lengths: Tensor) -> Tensor:
        """(B, T, H') outputs -> (B, H') (concat: (B, 3H')), ignoring positions past lengths."""
        return self._pool(self.config.pooling, out, state, lengths)

    def _pool(self, pooling: str, out: Tensor, state: Any, lengths: Tensor) -> Tensor:
        if pooling == "concat":
            return torch.cat([self._pool(p, out, state, lengths) for p in CONCAT], dim=-1)
        if pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # (L * dirs, B, H)
            dirs = 2 if self.config.bidirectional else 1
            return torch.cat(list(h_n[-dirs:]), dim=-1)  # (B, H')
        valid = torch.arange(out.shape[1], device=out.device) < lengths.to(out.device)[:, None]
        if pooling == "mean":
            return (out * valid[..., None]).sum(1) / lengths.to(out)[:, None]
        if pooling == "max":
            return out.masked_fill(~valid[..., None], float("-inf")).amax(1)
        return self.attention(out, valid)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom to top: the embedding, each recurrent layer (both directions), the head
        (pooling attention, output layer, n-gram bag): ULMFiT's discriminative learning rates
        and gradual unfreezing (:mod:`rnnkit.training.layer_groups`) work on these."""
        layers: list[list[nn.Parameter]] = [[] for _ in range(self.config.num_layers)]
        for name, p in self.rnn.named_parameters():
            layers[layer_index(name)].append(p)
        rest = {id(p) for p in [*self.embedding.parameters(), *self.rnn.parameters()]}
        head = [p for p in self.parameters() if id(p) not in rest]
        return [list(self.embedding.parameters()), *layers, head]

    # -- the Trainer's contract -------------------------------------------------------

    def loss(self, batch: PaddedBatch) -> tuple[Tensor, dict[str, Any]]:
        """Cross-entropy of a padded batch (class-weighted if configured)."""
        logits = self(batch.tokens, batch.lengths)
        loss = F.cross_entropy(logits, batch.labels, weight=self.class_weights)
        return loss, {"tokens": int(batch.lengths.sum())}

    def evaluate(self, batches: Iterable[PaddedBatch]) -> dict[str, float]:
        """Mean (unweighted) cross-entropy and accuracy over labelled batches."""
        logits, labels = self.logits(batches)
        loss = F.cross_entropy(logits, labels).item()
        return {"loss": loss, "accuracy": (logits.argmax(-1) == labels).float().mean().item()}

    def logits(self, batches: Iterable[PaddedBatch]) -> tuple[Tensor, Tensor]:
        """Logits (N, C) and labels (N,) of labelled batches, in dataset order (``index``)."""
        parts = [(b.index, self(b.tokens, b.lengths), b.labels) for b in batches]
        index = torch.cat([i for i, _, _ in parts])
        order = index.argsort()
        logits = torch.cat([z for _, z, _ in parts])[order]
        return logits, torch.cat([y for _, _, y in parts])[order]

    # -- prediction -------------------------------------------------------------------

    @torch.no_grad()
    def predict_proba(self, sequences: list[list[int]], *, batch_size: int = 64) -> Tensor:
        """Class probabilities (N, C) for encoded sequences, in their given order."""
        was_training = self.training
        self.eval()
        probs = torch.empty(len(sequences), self.config.num_classes)
        for batch in iter_batches(sequences, None, batch_size):
            probs[batch.index] = self(batch.tokens, batch.lengths).softmax(-1)
        self.train(was_training)
        return probs

    def classify(self, texts: Sequence[str], *, batch_size: int = 64) -> list[tuple[str, float]]:
        """(label, probability) for each text."""
        if self.encoder is None:
            raise CheckpointError("this classifier has no text encoder (tokenizer, vocabulary)")
        probs = self.predict_proba([self.encoder(t) for t in texts], batch_size=batch_size)
        best = probs.argmax(-1)
        return [(self.labels[i], probs[n, i].item()) for n, i in enumerate(best.tolist())]

    # -- checkpoints ----------------------------------------------------------------

    def extras_problem(self) -> str | None:
        labels, config = self.labels, self.config
        if not all(isinstance(x, str) and x for x in labels) or len(set(labels)) < len(labels):
            return f"field labels: expected distinct non-empty strings, got {labels!r:.60}"
        problem = size_problem("labels", len(labels), "labels", "num_classes", config.num_classes)
        if problem is not None or self.encoder is None:
            return problem
        length = self.encoder.max_length
        if length is not None and (not isinstance(length, int) or length < 1):
            return f"field encoder.max_length: expected null or an integer >= 1, got {length!r}"
        return size_problem("encoder.vocab", len(self.encoder.vocab), "tokens", "vocab_size",
                            config.vocab_size)  # fmt: skip

    def checkpoint_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {"labels": self.labels}
        if self.encoder is not None:
            extras["encoder"] = self.encoder.to_dict()
        return extras

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> SequenceClassifier:
        fields = dict(raw["model"])
        if fields.get("class_weights") is not None:
            fields["class_weights"] = tuple(fields["class_weights"])
        encoder = TextEncoder.from_dict(raw["encoder"]) if "encoder" in raw else None
        return cls(ClassifierConfig(**fields), encoder, raw["labels"])


def layer_index(name: str) -> int:
    """The layer of a recurrent parameter in torch's layout: ``weight_hh_l1_reverse`` -> 1."""
    suffix = name.rsplit("_l", 1)[1]
    return int(suffix.split("_")[0])


class AttentionPooling(nn.Module):
    """``a = softmax_t(v^T tanh(W o_t + b))`` over valid positions; ``z = sum_t a_t o_t``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, width)
        self.v = nn.Linear(width, 1, bias=False)

    def forward(self, out: Tensor, valid: Tensor) -> Tensor:
        scores = self.v(tanh(self.proj(out))).squeeze(-1)  # (B, T)
        weights = scores.masked_fill(~valid, float("-inf")).softmax(-1)  # (B, T)
        return torch.einsum("bt,bth->bh", weights, out)  # (B, H')
