"""Language model: embedding -> recurrent stack -> dropout -> output layer (optionally tied).

Characters or words (the vocabulary decides; :mod:`rnnkit.data.vocab`). The regularisers of
small word-level models (AWD-LSTM, Merity, Keskar & Socher 2018) are options: embedding
dropout, locked (variational) dropout on the stack's input and output, weight drop on the
recurrent weights, AR/TAR; the output layer is a full softmax (optionally tied to the
embedding) or an adaptive softmax (Grave et al. 2017) for large vocabularies.

Its training batch is a window of a token stream (:class:`rnnkit.data.batching.Window`): the
carried state comes in with it and goes out in the metrics, and the window says how many of its
last steps to backpropagate (TBPTT(k1, k2); Williams & Peng 1990, Sutskever 2013 sec. 2.8.6):
the first ``k1 - k2`` steps run under ``torch.no_grad()`` and only move the state forward, and
the loss is the mean over the last ``k2`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.state import detach_state
from rnnkit.data.batching import Window
from rnnkit.data.vocab import Vocab, vocab_from_dict
from rnnkit.layers.stacks import recurrent_stack
from rnnkit.options import PROBABILITY, option
from rnnkit.regularizers import EmbeddingDropout, VariationalDropout, activation_penalty
from rnnkit.tasks.pretrained import Pretrained, size_problem

CELLS = ("lstm", "gru", "rnn")  # rows of rnnkit.layers.stacks.CELLS: torch's own cells
OUTPUTS = ("softmax", "adaptive")
#: adaptive softmax cluster boundaries (those below the vocabulary size are used): the head
#: holds the 2,000 most frequent words, then 2,000-10,000 and the rest (div_value 4)
DEFAULT_CUTOFFS = (2000, 10000)
#: ``objective(model, x (B, T), y (B, T), state) -> (mean loss, state)``
Objective = Callable[[nn.Module, Tensor, Tensor, Any], tuple[Tensor, Any]]
FORMAT = "rnnkit.language_model/1"


@dataclass(frozen=True)
class LanguageModelConfig:
    """Architecture of a :class:`LanguageModel`."""

    vocab_size: int
    cell: str = option("lstm", "recurrent cell", choices=CELLS)
    hidden_size: int = option(512, "units per recurrent layer", low=1, high=65536)
    num_layers: int = option(2, "stacked recurrent layers", low=1, high=64)
    embedding_size: int | None = option(
        None, "embedding width (default: --hidden-size)", low=1, high=65536
    )
    dropout: float = option(
        0.0, "dropout between layers and before the output layer", low=0.0, high=1.0, open_high=True
    )
    tie_weights: bool = option(
        False, "share the input embedding and the output matrix (Press & Wolf 2017)"
    )
    zoneout: float = option(
        0.0,
        "zoneout on h and c (Krueger et al. 2017); runs rnnkit's fused/generic loop",
        low=0.0,
        high=1.0,
        open_high=True,
    )
    weight_drop: float = option(
        0.0,
        "DropConnect on the recurrent weights (Merity et al. 2017)",
        low=0.0,
        high=1.0,
        open_high=True,
    )

    embedding_dropout: float = option(
        0.0, "drop whole word types from the embedding (Gal & Ghahramani 2016)", **PROBABILITY
    )
    input_dropout: float | None = option(
        None, "dropout on the embeddings (default: --dropout)", **PROBABILITY
    )
    output_dropout: float | None = option(
        None, "dropout on the last layer's output (default: --dropout)", **PROBABILITY
    )
    locked_dropout: bool = option(
        False, "input/output dropout: one mask per sequence, shared over time (Gal 2016)"
    )
    ar: float = option(0.0, "activation regularisation alpha (Merity et al. 2017)", low=0, high=1e3)
    tar: float = option(0.0, "temporal activation regularisation beta", low=0, high=1e3)
    output: str = option(
        "softmax", "output layer: full softmax or adaptive softmax (Grave 2017)", choices=OUTPUTS
    )
    cutoffs: tuple[int, ...] | None = None  # adaptive softmax clusters (None: DEFAULT_CUTOFFS)

    def __post_init__(self) -> None:
        if self.cutoffs is not None:  # a list from JSON
            object.__setattr__(self, "cutoffs", tuple(self.cutoffs))
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if self.cutoffs is not None and self.output != "adaptive":  # would go unused
            raise ValueError(f"cutoffs need output='adaptive' (the adaptive softmax's "
                             f"clusters), got output={self.output!r}")  # fmt: skip
        if self.output == "adaptive":
            self.adaptive_cutoffs()  # raises if none fits the vocabulary
            if self.tie_weights:
                raise ValueError("tie_weights needs the full softmax output, not adaptive")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("dropout", "zoneout", "weight_drop", "embedding_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        for name in ("input_dropout", "output_dropout"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.tie_weights and self.embedding_size not in (None, self.hidden_size):
            raise ValueError(
                "tie_weights needs embedding_size == hidden_size, "
                f"got {self.embedding_size} and {self.hidden_size}"
            )

    def adaptive_cutoffs(self) -> list[int]:
        """The adaptive softmax's cluster boundaries for this vocabulary size."""
        cutoffs = list(self.cutoffs or (c for c in DEFAULT_CUTOFFS if c < self.vocab_size - 1))
        increasing = cutoffs == sorted(set(cutoffs))
        if not cutoffs or not increasing or cutoffs[0] < 1 or cutoffs[-1] >= self.vocab_size - 1:
            raise ValueError(
                f"adaptive softmax cutoffs {cutoffs or list(DEFAULT_CUTOFFS)} must be "
                f"increasing, from 1 to below the vocabulary size - 1 ({self.vocab_size - 1}); "
                "use the full softmax for a small vocabulary"
            )
        if self.hidden_size < 4 ** len(cutoffs):  # each tail cluster divides the size by 4
            raise ValueError(
                f"adaptive softmax with {len(cutoffs)} tail clusters needs hidden_size >= "
                f"{4 ** len(cutoffs)}, got {self.hidden_size}"
            )
        return cutoffs


class LanguageModel(Pretrained):
    """Predicts the next token: embedding -> recurrent stack -> dropout -> output layer.

    ``forward(tokens (B, T), state) -> (logits (B, T, V), state)``; with the adaptive softmax
    the "logits" are already log-probabilities (log-softmax leaves them unchanged, so every
    consumer of logits works). ``vocab`` (optional, characters or words) travels with the
    model into its checkpoint so sampling needs nothing else; so does ``reverse`` (the model
    read its texts reversed: a backward LM), which a user of the model checks.
    """

    FORMAT, KIND = FORMAT, "language-model"
    CONFIG = LanguageModelConfig
    METRICS = ("nats", "bits")  # what evaluate() measures; the first picks the best model

    def __init__(
        self, config: LanguageModelConfig, vocab: Vocab | None = None, *, reverse: bool = False
    ) -> None:
        super().__init__()
        self.config = config
        self.vocab = vocab
        self.reverse = reverse
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, embedding_size)
        self.embedding_drop = EmbeddingDropout(config.embedding_dropout)
        self.rnn = recurrent_stack(  # rnnkit's drop-in: the native kernel unless zoneout
            config.cell,
            embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout,
            zoneout=config.zoneout,
            weight_drop=config.weight_drop,
        )
        self.dropout = nn.Dropout(config.dropout)  # professor forcing reuses it
        self.input_drop = site_dropout(config.input_dropout, config)
        self.output_drop = site_dropout(config.output_dropout, config)
        if config.output == "adaptive":
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                config.hidden_size, config.vocab_size, config.adaptive_cutoffs(), div_value=4.0
            )
        else:
            self.proj = nn.Linear(config.hidden_size, config.vocab_size)
            if config.tie_weights:
                self.proj.weight = self.embedding.weight

    @property
    def unit(self) -> str:
        """What one token is (``char``, ``word``; ``token`` without a vocabulary): figures' unit."""
        return self.vocab.unit if self.vocab is not None else "token"

    def forward(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        out, state = self.features(tokens, state)  # (B, T, H)
        return self.head(self.output_drop(out)), state  # (B, T, V)

    def features(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        """The last layer's outputs (B, T, H), before the output dropout, and the state."""
        x = self.input_drop(self.embedding_drop(self.embedding, tokens))  # (B, T, E)
        return self.rnn(x, state)

    def head(self, out: Tensor) -> Tensor:
        """(..., H) -> (..., V) logits (log-probabilities with the adaptive softmax)."""
        if self.config.output == "adaptive":
            return self.adaptive.log_prob(out.flatten(0, -2)).unflatten(0, out.shape[:-1])
        return self.proj(out)

    def nll(self, out: Tensor, targets: Tensor) -> Tensor:
        """Mean negative log-likelihood of ``targets`` (B, T) from dropped outputs (B, T, H)."""
        if self.config.output == "adaptive":  # only the targets' clusters are computed
            return self.adaptive(out.flatten(0, 1), targets.flatten()).loss
        return F.cross_entropy(self.proj(out).flatten(0, 1), targets.flatten())

    def step(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        """Decoding step: (B,) tokens -> ((B, V) log-probs, state), for :mod:`rnnkit.decoding`."""
        logits, state = self(tokens[:, None], state)
        return logits[:, -1].log_softmax(-1), state

    # -- training and evaluation (the Trainer's contract) ------------------------------

    def loss(self, batch: Window) -> tuple[Tensor, dict[str, Any]]:
        """TBPTT(k1, k2) loss of one window; the outgoing state is ``metrics["state"]``."""
        objective = batch.objective or next_token_loss
        x, y, state = batch.inputs, batch.targets, detach_state(batch.state)
        prefix = 0 if batch.k2 is None else max(0, x.shape[1] - batch.k2)
        if prefix:
            with torch.no_grad():  # the first k1 - k2 steps only carry the state forward
                _, state = objective(self, x[:, :prefix], y[:, :prefix], state)
        loss, state = objective(self, x[:, prefix:], y[:, prefix:], state)
        return loss, {"tokens": y.numel(), "state": state}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """Mean NLL over consecutive windows ``(x, y)`` of a stream, the state carried."""
        total, count, state = 0.0, 0, None
        for x, y in batches:
            out, state = self.features(x, state)  # (B, T, H)
            total += self.nll(self.output_drop(out), y).item() * y.numel()  # adaptive: cheap
            count += y.numel()
        nats = total / count
        return {"nats": nats, "bits": nats / math.log(2)}

    # -- checkpoints ----------------------------------------------------------------

    def extras_problem(self) -> str | None:
        if self.vocab is None:
            return None
        return size_problem("vocab", len(self.vocab), "symbols", "vocab_size",
                            self.config.vocab_size)  # fmt: skip

    def checkpoint_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {"vocab": self.vocab.to_dict()} if self.vocab is not None else {}
        if self.reverse:  # only then: a forward model's config.json is as it always was
            extras["reverse"] = True
        return extras

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> LanguageModel:
        vocab = vocab_from_dict(raw["vocab"]) if "vocab" in raw else None
        reverse = raw.get("reverse", False)
        if not isinstance(reverse, bool):
            raise ValueError(f"reverse must be true or false, got {reverse!r}")
        return cls(LanguageModelConfig(**raw["model"]), vocab, reverse=reverse)


def site_dropout(p: float | None, config: LanguageModelConfig) -> nn.Module:
    """Dropout at the stack's input or output: ``p`` (None: ``config.dropout``), locked or not."""
    p = config.dropout if p is None else p
    return LockedDropout(p) if config.locked_dropout else nn.Dropout(p)


class LockedDropout(VariationalDropout):
    """One mask per (B, T, F) batch, shared over its T steps; a new one at every call."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        self.reset()
        return super().forward(x, time_dim=1)


def next_token_loss(model: nn.Module, x: Tensor, y: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Teacher forcing: mean cross-entropy of ``model(x, state)`` against targets ``y``.

    A :class:`LanguageModel` adds its AR/TAR penalties (training only) and computes the loss
    through its own output layer (the adaptive softmax never builds (B, T, V)).
    """
    if not isinstance(model, LanguageModel):
        logits, state = model(x, state)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten()), state
    out, state = model.features(x, state)  # (B, T, H)
    dropped = model.output_drop(out)
    loss = model.nll(dropped, y)
    if model.training and (model.config.ar or model.config.tar):
        loss = loss + activation_penalty(dropped, out, alpha=model.config.ar, beta=model.config.tar)
    return loss, state
