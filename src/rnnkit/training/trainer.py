"""Training a language model with truncated backpropagation through time.

Each chunk of the token stream is one visible sequence of steps: detach the carried
state, forward, loss, backward, clip, step, emit events.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.state import map_state
from rnnkit.data.batching import StreamBatches
from rnnkit.tasks.language_model import LanguageModel
from rnnkit.training.progress import ProgressBar

Callback = Callable[["Trainer", dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """How to train; every field has a default that works on a 2-core CPU."""

    batch_size: int = 32  # parallel columns of the stream
    bptt: int = 100  # steps per truncated-BPTT chunk
    lr: float = 2e-3  # Adam learning rate
    clip_norm: float | None = 5.0  # global gradient-norm clipping; None: off
    max_steps: int | None = None  # stop after this many updates ...
    max_minutes: float | None = None  # ... or after this much wall time (whichever first)
    eval_every: int = 200  # updates between validations
    eval_batch_size: int = 16  # columns used for validation
    seed: int = 0  # seeds torch before training

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("give a budget: max_steps or max_minutes")


def detach(state: Any) -> Any:
    """Cut the graph at a chunk boundary (truncated BPTT), keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple) and not hasattr(state, "_fields"):
        return tuple(detach(s) for s in state)
    return map_state(Tensor.detach, state)


@torch.no_grad()
def evaluate(model: LanguageModel, ids: Tensor, *, batch_size: int, bptt: int) -> float:
    """Mean negative log-likelihood in nats per token over a stream, state carried throughout."""
    was_training = model.training
    model.eval()
    batches = StreamBatches(ids, min(batch_size, max(1, (len(ids) - 1) // 2)), bptt)
    total, count, state = 0.0, 0, None
    for x, y in batches:
        logits, state = model(x, state)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


class Trainer:
    """Trains a :class:`LanguageModel` on a token stream with Adam and gradient clipping.

    Args:
        model: the model to train (updated in place).
        train_ids, valid_ids: (N,) token streams.
        config: the :class:`TrainConfig`.
        out_dir: where the best checkpoint (by validation loss) and ``metrics.jsonl`` go.
        callbacks: event name (``on_step_end``, ``on_eval_end``) -> functions ``f(trainer, m)``.
    """

    def __init__(
        self,
        model: LanguageModel,
        train_ids: Tensor,
        valid_ids: Tensor,
        config: TrainConfig,
        *,
        out_dir: str | Path | None = None,
        callbacks: dict[str, list[Callback]] | None = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.config = config
        self.batches = StreamBatches(train_ids, config.batch_size, config.bptt)
        self.valid_ids = valid_ids
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = callbacks or {}
        self.show_progress = progress
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.step = 0
        self.best_valid = math.inf
        self.history: list[dict[str, Any]] = []

    def emit(self, event: str, metrics: dict[str, Any]) -> None:
        for callback in self.callbacks.get(event, []):
            callback(self, metrics)

    def train_chunk(self, x: Tensor, y: Tensor, state: Any) -> tuple[float, Any]:
        """One truncated-BPTT update on chunk (x, y), both (B, T)."""
        state = detach(state)
        logits, state = self.model(x, state)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        return loss.item(), state

    def fit(self) -> dict[str, Any]:
        """Train until the step or time budget is spent; returns the final metrics."""
        cfg = self.config
        max_seconds = cfg.max_minutes * 60 if cfg.max_minutes is not None else None
        bar = ProgressBar(max_steps=cfg.max_steps, max_seconds=max_seconds)
        start = time.monotonic()
        self.model.train()
        state, chunk, tokens, last = None, 0, 0, {}
        while not self._budget_spent(start):
            if chunk == len(self.batches):  # new epoch: the stream starts over, so does the state
                state, chunk = None, 0
            x, y = self.batches.chunk(chunk)
            loss, state = self.train_chunk(x, y, state)
            chunk, tokens, self.step = chunk + 1, tokens + y.numel(), self.step + 1
            elapsed = time.monotonic() - start
            if self.show_progress:
                bar.update(self.step, loss, tokens / max(elapsed, 1e-9))
            self.emit("on_step_end", {"step": self.step, "loss": loss})
            if self.step % cfg.eval_every == 0 or self._budget_spent(start):
                last = self.validate(loss, elapsed, tokens)
                if self.show_progress:
                    bar.message(self._describe(last))
        bar.close()
        return last

    def validate(self, train_loss: float, elapsed: float, tokens: int) -> dict[str, Any]:
        """Measure validation loss, keep the best checkpoint, log and emit ``on_eval_end``."""
        cfg = self.config
        nats = evaluate(self.model, self.valid_ids, batch_size=cfg.eval_batch_size, bptt=cfg.bptt)
        improved = nats < self.best_valid
        if improved:
            self.best_valid = nats
            if self.out_dir is not None:
                self.model.save_pretrained(self.out_dir, training=asdict(cfg))
        metrics = {
            "step": self.step,
            "train_loss": train_loss,
            "valid_nats": nats,
            "valid_bits": nats / math.log(2),
            "best_valid_nats": self.best_valid,
            "elapsed_s": round(elapsed, 2),
            "tokens": tokens,
        }
        self.history.append(metrics)
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(metrics) + "\n")
        self.emit("on_eval_end", metrics)
        return metrics

    def _budget_spent(self, start: float) -> bool:
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return True
        return cfg.max_minutes is not None and time.monotonic() - start >= cfg.max_minutes * 60

    @staticmethod
    def _describe(m: dict[str, Any]) -> str:
        return (
            f"step {m['step']}: valid {m['valid_nats']:.4f} nats/char "
            f"({m['valid_bits']:.4f} bits/char), best {m['best_valid_nats']:.4f}"
        )
