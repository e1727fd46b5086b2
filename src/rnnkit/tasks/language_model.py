"""Language model: embedding -> recurrent stack -> dropout -> linear (optionally tied).

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
from rnnkit.data.vocab import CharVocab
from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.options import option
from rnnkit.tasks.pretrained import Pretrained

CELLS = ("lstm", "gru", "rnn")
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
    embedding_size: int | None = None  # None: same as hidden_size
    dropout: float = option(
        0.0, "dropout between layers and before the output layer", low=0.0, high=1.0, open_high=True
    )
    tie_weights: bool = False  # share input embedding and output matrix (Press & Wolf 2017)
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

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("dropout", "zoneout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.tie_weights and self.embedding_size not in (None, self.hidden_size):
            raise ValueError(
                "tie_weights needs embedding_size == hidden_size, "
                f"got {self.embedding_size} and {self.hidden_size}"
            )


def recurrent_stack(config: LanguageModelConfig, input_size: int) -> nn.Module:
    """rnnkit's drop-in LSTM/GRU/RNN for ``config.cell``: the native kernel unless zoneout."""
    kind = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[config.cell]
    extras = {name: getattr(config, name) for name in ("zoneout", "weight_drop")}
    return kind(
        input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
        batch_first=True,
        **{name: p for name, p in extras.items() if p > 0},
    )


class LanguageModel(Pretrained):
    """Predicts the next token: embedding -> recurrent stack -> dropout -> linear.

    ``forward(tokens (B, T), state) -> (logits (B, T, V), state)``. ``vocab`` (optional)
    travels with the model into its checkpoint so sampling needs nothing else.
    """

    FORMAT, KIND = FORMAT, "language-model"
    METRICS = ("nats", "bits")  # what evaluate() measures; the first picks the best model

    def __init__(self, config: LanguageModelConfig, vocab: CharVocab | None = None) -> None:
        super().__init__()
        self.config = config
        self.vocab = vocab
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, embedding_size)
        self.rnn = recurrent_stack(config, embedding_size)
        self.dropout = nn.Dropout(config.dropout)
        self.proj = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.proj.weight = self.embedding.weight

    def forward(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.proj(self.dropout(out)), state  # (B, T, V)

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
            logits, state = self(x, state)  # (B, T, V)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
        nats = total / count
        return {"nats": nats, "bits": nats / math.log(2)}

    # -- checkpoints ----------------------------------------------------------------

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_dict()} if self.vocab is not None else {}

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> LanguageModel:
        vocab = CharVocab.from_dict(raw["vocab"]) if "vocab" in raw else None
        return cls(LanguageModelConfig(**raw["model"]), vocab)


def next_token_loss(model: nn.Module, x: Tensor, y: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Teacher forcing: mean cross-entropy of ``model(x, state)`` against targets ``y``."""
    logits, state = model(x, state)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten()), state
