"""Training a language model with truncated backpropagation through time.

Each window of the token stream is one visible sequence of steps: detach the carried state,
forward, loss, backward (the last k2 steps), average across ranks, clip, check, step, emit.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.batching import StreamBatches
from rnnkit.tasks.pretrained import save_checkpoint
from rnnkit.training import checkpoint as ckpt
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import Workers
from rnnkit.training.gradients import NonFiniteError, clip_gradients, nonfinite_reason
from rnnkit.training.metrics_log import MetricsLog
from rnnkit.training.progress import ProgressBar
from rnnkit.training.resume import resume_trainer_state, save_trainer_state
from rnnkit.training.schedules import EarlyStopping, LRSchedule, build_optimizer
from rnnkit.training.tbptt import (
    Objective,
    TokenStream,
    detach,
    next_token_loss,
    tbptt_backward,
    window_length,
)

__all__ = ["NonFiniteError", "TrainConfig", "Trainer", "detach", "evaluate"]

Callback = Callable[["Trainer", dict[str, Any]], None]
MAX_CONSECUTIVE_SKIPS = 10  # --on-nan skip gives up after this many bad windows in a row


@torch.no_grad()
def evaluate(model: nn.Module, ids: Tensor, *, batch_size: int, bptt: int) -> float:
    """Mean negative log-likelihood in nats per token over a stream, state carried throughout."""
    was_training = model.training
    model.eval()  # no dropout: evaluation draws nothing from the training RNG
    batches = StreamBatches(ids, min(batch_size, max(1, (len(ids) - 1) // 2)), bptt)
    total, count, state = 0.0, 0, None
    for x, y in batches:
        logits, state = model(x, state)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


class Trainer:
    """Trains a language model on a token stream with truncated BPTT; resumable, data-parallel.

    Args:
        model: the model to train (updated in place); ``model(x, state) -> (logits, state)``.
        train_ids, valid_ids: (N,) token streams.
        config: the :class:`TrainConfig`.
        out_dir: where the best model (by validation loss), ``metrics.jsonl`` and the
            resumable checkpoints (``trainer_state/``) go; None: nothing is written.
        callbacks: event name (``on_step_end``, ``on_eval_end``) -> functions ``f(trainer, m)``.
        progress: draw the progress bar (rank 0 only).
        objective: the loss of a window, ``f(model, x, y, state) -> (loss, state)``
            (default: teacher-forced next-token cross-entropy).
    """

    def __init__(
        self,
        model: nn.Module,
        train_ids: Tensor,
        valid_ids: Tensor,
        config: TrainConfig,
        *,
        out_dir: str | Path | None = None,
        callbacks: dict[str, list[Callback]] | None = None,
        progress: bool = True,
        objective: Objective | None = None,
    ) -> None:
        self.model, self.config, self.valid_ids = model, config, valid_ids
        self.workers = Workers.current()
        self.stream = TokenStream(
            train_ids, config.batch_size, columns=self.workers.columns(config.batch_size)
        )
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = callbacks or {}
        self.show_progress = progress and self.workers.is_main
        self.objective = objective or next_token_loss
        sampling = config.scheduled_sampling_schedule()
        if sampling is not None and objective is None:
            self.objective = sampling.objective(lambda: self.step)  # ε_i follows the updates
        self.optimizer = build_optimizer(model.parameters(), config)
        self.schedule = LRSchedule(config)
        self.early_stopping = EarlyStopping(config.patience)
        self.window_rng = random.Random(config.seed)  # window lengths: the same on every rank
        self.log = MetricsLog(self.out_dir if self.workers.is_main else None)
        self.step, self.tokens, self.elapsed = 0, 0, 0.0  # updates, tokens, seconds of training
        self.state: Any = None  # the recurrent state carried between windows
        self.best_valid = math.inf
        self.lr, self.grad_norm = config.lr, 0.0
        self.history: list[dict[str, Any]] = []
        self.skipped = 0  # consecutive windows skipped for a NaN/Inf loss
        self.stopped_early = False
        self.loss_window = [0.0, 0]  # train-loss sum and count since the last train record
        self._started = False
        if self.workers.world_size > 1:
            self.workers.broadcast_parameters(list(model.parameters()))
            if self.workers.rank:
                torch.manual_seed(config.seed + self.workers.rank)  # own dropout masks

    def emit(self, event: str, metrics: dict[str, Any]) -> None:
        for callback in self.callbacks.get(event, []):
            callback(self, metrics)

    # -- one update -----------------------------------------------------------------

    def train_chunk(
        self, x: Tensor, y: Tensor, state: Any, *, lr_scale: float = 1.0
    ) -> tuple[float | None, Any]:
        """One TBPTT update on window (x, y), both (B, T); returns (loss, state).

        A NaN/Inf loss or gradient raises :class:`NonFiniteError`, or with
        ``on_nonfinite="skip"`` applies no update and returns (None, None).
        """
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        loss, state = tbptt_backward(self.objective, self.model, x, y, state, k2=cfg.tbptt_k2)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.workers.average_gradients(params)
        (loss_sum,) = self.workers.sum([loss.item()])
        loss_value = loss_sum / self.workers.world_size
        self.grad_norm = clip_gradients(params, max_norm=cfg.clip_norm, max_value=cfg.clip_value)
        reason = nonfinite_reason(loss_value, self.grad_norm)
        if reason is not None:
            self.optimizer.zero_grad(set_to_none=True)
            return self._nonfinite(reason), None
        self.skipped = 0
        self.lr = self.schedule.lr(self.step, self._time_fraction()) * lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.optimizer.step()
        return loss_value, state

    def _nonfinite(self, reason: str) -> None:
        where = f"at step {self.step + 1}"
        self.skipped += 1
        if self.config.on_nonfinite == "stop" or self.skipped > MAX_CONSECUTIVE_SKIPS:
            kept = "; the last good checkpoint is kept" if self.out_dir is not None else ""
            many = f" ({self.skipped} windows in a row)" if self.skipped > 1 else ""
            raise NonFiniteError(f"non-finite training loss {where}: {reason}{many}; stopped{kept}")
        self.log.write({"kind": "skip", "step": self.step, "reason": f"{reason} {where}"})

    # -- the loop ---------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent or early stopping; returns the last validation."""
        cfg = self.config
        self._start()
        max_seconds = cfg.max_minutes * 60 if cfg.max_minutes is not None else None
        bar = ProgressBar(max_steps=cfg.max_steps, max_seconds=max_seconds, elapsed=self.elapsed)
        clock_zero = time.monotonic() - self.elapsed
        self.model.train()
        last: dict[str, Any] = {}
        while not (self.stopped_early or self._budget_spent()):
            if self.stream.exhausted:  # new epoch: the stream starts over, so does the state
                self.stream.next_epoch()
                self.state = None
            steps = window_length(self.window_rng, cfg.bptt) if cfg.random_bptt else cfg.bptt
            x, y = self.stream.read(steps)
            scale = x.shape[1] / cfg.bptt if cfg.random_bptt else 1.0
            loss, self.state = self.train_chunk(x, y, self.state, lr_scale=scale)
            self.elapsed = self.workers.broadcast(time.monotonic() - clock_zero)
            if loss is None:  # skipped
                continue
            self.step += 1
            self.tokens += y.numel() * self.workers.world_size
            if self.show_progress:
                bar.update(self.step, loss, self.tokens / max(self.elapsed, 1e-9))
            self.emit("on_step_end", {"step": self.step, "loss": loss, "lr": self.lr})
            self._record_train_loss(loss)
            if self.step % cfg.eval_every == 0 or self._budget_spent():
                last = self.validate(loss, self.elapsed, self.tokens)
                if self.show_progress:
                    bar.message(self._describe(last))
                self.stopped_early = self.early_stopping.observe(last["valid_nats"])
            if self.stopped_early:
                self._note_early_stop(bar)
            if self.stopped_early or self.step % cfg.save_every == 0 or self._budget_spent():
                self.save_state()
        bar.close()
        self.log.close()
        self.workers.barrier()  # rank 0 has written the best model before any rank reads it
        return last

    def _record_train_loss(self, loss: float) -> None:
        self.loss_window[0] += loss
        self.loss_window[1] += 1
        if self.step % self.config.log_every:
            return
        total, count = self.loss_window
        self.loss_window = [0.0, 0]
        self.log.write(
            {
                "kind": "train",
                "step": self.step,
                "loss": total / count,
                "lr": self.lr,
                "grad_norm": self.grad_norm,
                "epoch": self.stream.epoch,
                "tokens": self.tokens,
                "tokens_per_s": round(self.tokens / max(self.elapsed, 1e-9), 1),
                "elapsed_s": round(self.elapsed, 3),
            }
        )

    def _note_early_stop(self, bar: ProgressBar) -> None:
        n = self.early_stopping.bad_validations
        text = f"early stopping at step {self.step}: no improvement in {n} validations"
        self.log.write({"kind": "stop", "step": self.step, "reason": text})
        if self.show_progress:
            bar.message(text)

    def validate(self, train_loss: float, elapsed: float, tokens: int) -> dict[str, Any]:
        """Measure validation loss (rank 0), keep the best model, log and emit ``on_eval_end``."""
        cfg = self.config
        nats = 0.0
        if self.workers.is_main:
            nats = evaluate(
                self.model, self.valid_ids, batch_size=cfg.eval_batch_size, bptt=cfg.bptt
            )
        nats = self.workers.broadcast(nats)
        if nats < self.best_valid:
            self.best_valid = nats
            if self.out_dir is not None and self.workers.is_main:
                self.write_model(self.out_dir)
        self.schedule.observe(nats)
        metrics = {
            "kind": "valid",
            "step": self.step,
            "train_loss": train_loss,
            "valid_nats": nats,
            "valid_bits": nats / math.log(2),
            "best_valid_nats": self.best_valid,
            "lr": self.lr,
            "elapsed_s": round(elapsed, 2),
            "tokens": tokens,
        }
        self.history.append(metrics)
        self.log.write(metrics)
        self.emit("on_eval_end", metrics)
        return metrics

    def _budget_spent(self) -> bool:
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return True
        return cfg.max_minutes is not None and self.elapsed >= cfg.max_minutes * 60

    def _time_fraction(self) -> float:
        minutes = self.config.max_minutes
        return self.elapsed / (minutes * 60) if minutes is not None else 0.0

    @staticmethod
    def _describe(m: dict[str, Any]) -> str:
        return (
            f"step {m['step']}: valid {m['valid_nats']:.4f} nats/char "
            f"({m['valid_bits']:.4f} bits/char), best {m['best_valid_nats']:.4f}"
        )

    # -- checkpoints ------------------------------------------------------------------

    def write_model(self, directory: Path) -> None:
        if hasattr(self.model, "save_pretrained"):
            self.model.save_pretrained(directory, training=asdict(self.config))
        else:
            save_checkpoint(directory, {"training": asdict(self.config)}, self.model.state_dict())

    def _start(self) -> None:
        """A fresh run clears old checkpoints and the log; a resumed one has already loaded."""
        if self._started:
            return
        self._started = True
        if self.out_dir is not None and self.workers.is_main:
            ckpt.clear_states(self.out_dir)
        self.log.start()

    def save_state(self) -> None:
        """Write a resumable checkpoint to ``OUT/trainer_state/step-NNNNNN`` (rank 0 writes)."""
        if self.out_dir is not None:
            save_trainer_state(self)

    def resume(self) -> int:
        """Load the newest checkpoint in ``OUT/trainer_state`` (if any); returns its step.

        Training then continues exactly where it stood: same data position, carried state,
        optimizer, schedules and RNG states, so later losses equal an uninterrupted run's.
        """
        step = resume_trainer_state(self) if self.out_dir is not None else None
        if step is None:
            return 0
        self._started = True
        return step
