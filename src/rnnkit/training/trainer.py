"""One Trainer for every task: batches in, loss out.

A task model gives ``loss(batch) -> (loss, metrics)`` and ``evaluate(batches) -> metrics``; a
source gives ``next_batch()`` and its position through ``state_dict()``. Each update reads as a
sequence: next batch, forward and loss, backward, average across ranks, clip, NaN guard, step,
schedule, log, validate, keep the best, stop early, save the resumable state (every
``save_every`` updates, every ``save_every_minutes`` and on SIGINT/SIGTERM, which then stop
the run: :mod:`rnnkit.training.interrupts`).

A source may carry recurrent state from one batch to the next (a truncated-BPTT stream,
:class:`~rnnkit.training.tbptt.TokenStream`): the model returns the state it ended in as
``metrics["state"]``, and the trainer hands it back to the source (``source.carry``).
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.state import flatten_state, unflatten_state
from rnnkit.data.batching import StreamBatches
from rnnkit.errors import CheckpointError, Interrupted
from rnnkit.tasks.pretrained import load_state, save_checkpoint
from rnnkit.training import checkpoint as ckpt
from rnnkit.training import resume as files
from rnnkit.training.averaging import EMA, NTASGD
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import Workers
from rnnkit.training.gradients import NonFiniteError, clip_gradients, nonfinite_reason
from rnnkit.training.interrupts import SignalGuard
from rnnkit.training.layer_groups import LayerGroups
from rnnkit.training.metrics_log import MetricsLog
from rnnkit.training.precision import Precision
from rnnkit.training.progress import ProgressBar
from rnnkit.training.schedules import EarlyStopping, LRSchedule, build_optimizer
from rnnkit.training.tbptt import Objective, TokenStream, next_token_loss

__all__ = ["NonFiniteError", "TrainConfig", "Trainer", "evaluate", "next_token_loss"]

Callback = Callable[["Trainer", dict[str, Any]], None]
Evaluator = Callable[[], dict[str, float]]
MAX_CONSECUTIVE_SKIPS = 10  # --on-nan skip gives up after this many bad batches in a row
#: metrics where higher is better
MAXIMIZED = ("accuracy", "macro_f1", "mcc", "f1", "sequence_accuracy", "token_accuracy")
BUDGET_FIELDS = ("max_steps", "max_minutes")  # may change when a run is resumed


def evaluate(model: nn.Module, ids: Tensor, *, batch_size: int, bptt: int) -> float:
    """A language model's mean NLL in nats per token over a stream, the state carried."""
    batches = StreamBatches(ids, min(batch_size, max(1, (len(ids) - 1) // 2)), bptt)
    return in_eval_mode(model, lambda: model.evaluate(batches))["nats"]


def in_eval_mode(model: nn.Module, run: Callable[[], Any]) -> Any:
    """``run()`` with the model in eval mode (no dropout: draws nothing from the RNG)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return run()
    finally:
        model.train(was_training)


class Trainer:
    """Trains any task model; resumable bit for bit, data-parallel.

    Args:
        model: the task model (updated in place): ``loss(batch) -> (loss, metrics)``,
            ``evaluate(batches) -> metrics`` and ``save_pretrained(dir, training=...)``.
        train: a batch source (``next_batch()``, ``epoch``, ``state_dict()``,
            ``load_state_dict()``), or a (N,) token stream, read as a :class:`TokenStream`.
        valid: validation batches for ``model.evaluate``, a function returning the metrics,
            or a (N,) token stream (metrics ``nats`` and ``bits`` per token).
        config: the :class:`TrainConfig`.
        out_dir: where the best model (by ``config.monitor``), ``metrics.jsonl`` and the
            resumable checkpoints (``trainer_state/``) go; None: nothing is written.
        callbacks: event name (``on_step_end``, ``on_eval_end``) -> functions ``f(trainer, m)``.
        progress: draw the progress bar (rank 0 only).
        label: what the bar's lines start with (which of a job's several models trains).
        objective: for a token stream, the loss of a window (default teacher forcing).
        clock: seconds, monotonic (the budget, time-based saves, throughput); tests pass a
            fake one.
    """

    def __init__(
        self,
        model: nn.Module,
        train: Any,
        valid: Any,
        config: TrainConfig,
        *,
        out_dir: str | Path | None = None,
        callbacks: dict[str, list[Callback]] | None = None,
        progress: bool = True,
        label: str = "",
        objective: Objective | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model, self.config, self.clock = model, config, clock
        metrics = getattr(model, "METRICS", None)
        if config.monitor is not None and metrics and config.monitor not in metrics:
            raise ValueError(f"monitor must be one of {', '.join(metrics)}, got {config.monitor!r}")
        self.workers = Workers.current()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = callbacks or {}
        self.show_progress, self.label = progress and self.workers.is_main, label
        self.objective = objective
        self.sampling = config.scheduled_sampling_schedule()
        if self.sampling is not None and objective is None and isinstance(train, Tensor):
            self.objective = self.sampling.objective(lambda: self.step)  # ε_i follows updates
        self.source = self._source(train)
        self.evaluator = self._evaluator(valid)
        self.precision = Precision.for_model(config.precision, model)
        nt_asgd = NTASGD(model, config.nt_asgd_window) if config.optimizer == "nt-asgd" else None
        ema = EMA(model, config.ema_decay) if config.ema_decay else None  # 0: off
        self.averaging = nt_asgd or ema
        self.layer_groups = LayerGroups.of(model, config.discriminative_lr, config.unfreeze_every)
        if nt_asgd is not None:
            if self.layer_groups is not None:
                raise ValueError("nt-asgd averages one SGD over all parameters: no layer groups")
            self.optimizer = nt_asgd.sgd(config.lr, config.momentum)
        else:
            groups = self.layer_groups.param_groups() if self.layer_groups else model.parameters()
            self.optimizer = build_optimizer(groups, config)
        self.schedule = LRSchedule(config)
        self.early_stopping = EarlyStopping(config.patience)
        self.log = MetricsLog(self.out_dir if self.workers.is_main else None)
        self.step, self.tokens, self.elapsed = 0, 0, 0.0  # updates, tokens, seconds of training
        self.session = (0, 0.0)  # tokens and elapsed when this process's fit() began
        self.saved_at = 0.0  # elapsed at the last resumable save (or at the start of fit())
        self.best_valid = math.inf  # of the monitored metric, sign-adjusted (lower is better)
        self.lr, self.grad_norm = config.lr, 0.0
        self.history: list[dict[str, Any]] = []
        self.skipped = 0  # consecutive batches skipped for a NaN/Inf loss
        self.stopped_early = False
        self.loss_window = [0.0, 0]  # train-loss sum and count since the last train record
        self._started = False
        if self.workers.world_size > 1:
            self.workers.broadcast_parameters(list(model.parameters()))
            if self.workers.rank:
                torch.manual_seed(config.seed + self.workers.rank)  # own dropout masks

    def _source(self, train: Any) -> Any:
        cfg = self.config
        if not isinstance(train, Tensor):
            if self.objective is not None:
                raise ValueError("objectives need a token stream")
            if self.sampling is not None and not hasattr(self.model, "teacher_prob"):
                raise ValueError(
                    "scheduled sampling needs a token stream or a model with teacher_prob"
                )
            if self.workers.world_size > 1:  # each rank trains on its share of every batch
                train.shard(self.workers.rank, self.workers.world_size)
            return train
        return TokenStream(
            train,
            cfg.batch_size,
            columns=self.workers.columns(cfg.batch_size),
            bptt=cfg.bptt,
            k2=cfg.tbptt_k2,
            random_bptt=cfg.random_bptt,
            seed=cfg.seed,
            objective=self.objective,
        )

    def _evaluator(self, valid: Any) -> Evaluator:
        cfg = self.config
        if isinstance(valid, Tensor):

            def stream_metrics() -> dict[str, float]:
                nats = evaluate(self.model, valid, batch_size=cfg.eval_batch_size, bptt=cfg.bptt)
                return {"nats": nats, "bits": nats / math.log(2)}

            return stream_metrics
        if callable(valid):
            return valid
        batches: Iterable[Any] = valid
        return lambda: in_eval_mode(self.model, lambda: self.model.evaluate(batches))

    @property
    def state(self) -> Any:
        """The recurrent state the source carries into the next batch (None if it carries none)."""
        return getattr(self.source, "carried", None)

    def emit(self, event: str, metrics: dict[str, Any]) -> None:
        for callback in self.callbacks.get(event, []):
            callback(self, metrics)

    # -- one update -----------------------------------------------------------------

    def train_step(self, batch: Any) -> tuple[float | None, dict[str, Any]]:
        """One update on ``batch``; returns (mean loss across ranks, the model's metrics).

        A NaN/Inf loss or gradient raises :class:`NonFiniteError`, or with
        ``on_nonfinite="skip"`` applies no update and returns (None, {}).
        """
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        if self.layer_groups is not None:  # gradual unfreezing: the groups this update trains
            self.layer_groups.apply(self.step)
        if self.sampling is not None and self.objective is None:  # the model mixes its inputs
            self.model.teacher_prob = self.sampling.teacher_prob(self.step)
        with self.precision.autocast():  # bf16/fp16: the forward pass and loss only
            loss, metrics = self.model.loss(batch)
        self.precision.backward(loss)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.workers.average_gradients(params)
        (loss_sum,) = self.workers.sum([loss.item()])
        loss_value = loss_sum / self.workers.world_size
        self.precision.unscale(self.optimizer)
        self.grad_norm = clip_gradients(params, max_norm=cfg.clip_norm, max_value=cfg.clip_value)
        overflow_skips = self.precision.scaling  # fp16: the scaler skips overflowed steps itself
        reason = nonfinite_reason(loss_value, 0.0 if overflow_skips else self.grad_norm)
        if reason is not None:
            self.optimizer.zero_grad(set_to_none=True)
            self.precision.skip()
            return self._nonfinite(reason), {}
        self.skipped = 0
        lr_scale = getattr(batch, "lr_scale", 1.0)
        self.lr = self.schedule.lr(self.step, self._time_fraction()) * lr_scale
        for group in self.optimizer.param_groups:  # discriminative: a scale per layer group
            group["lr"] = self.lr * group.get("lr_scale", 1.0)
        self.precision.step(self.optimizer)
        if self.averaging is not None:
            self.averaging.update()
        return loss_value, metrics

    def _nonfinite(self, reason: str) -> None:
        where = f"at step {self.step + 1}"
        self.skipped += 1
        if self.config.on_nonfinite == "stop" or self.skipped > MAX_CONSECUTIVE_SKIPS:
            kept = "; the last good checkpoint is kept" if self.out_dir is not None else ""
            many = f" ({self.skipped} batches in a row)" if self.skipped > 1 else ""
            raise NonFiniteError(f"non-finite training loss {where}: {reason}{many}; stopped{kept}")
        self.log.write({"kind": "skip", "step": self.step, "reason": f"{reason} {where}"})

    # -- the loop ---------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train until the budget is spent or early stopping; returns the last validation.

        Raises:
            Interrupted: SIGINT or SIGTERM arrived; the update under way was finished and the
                resumable state saved (a second signal aborts with KeyboardInterrupt).
        """
        cfg = self.config
        self._start()
        max_seconds = cfg.max_minutes * 60 if cfg.max_minutes is not None else None
        bar = ProgressBar(max_steps=cfg.max_steps, max_seconds=max_seconds, elapsed=self.elapsed,
                          label=self.label)  # fmt: skip
        clock_zero = self.clock() - self.elapsed
        self.session, self.saved_at = (self.tokens, self.elapsed), self.elapsed
        self.model.train()
        last: dict[str, Any] = {}
        try:
            with SignalGuard() as signals:
                while not (self.stopped_early or self._budget_spent()):
                    loss, metrics = self.train_step(self.source.next_batch())
                    if hasattr(self.source, "carry"):
                        self.source.carry(metrics.get("state"))  # None after a skip: afresh
                    self.elapsed = self.workers.broadcast(self.clock() - clock_zero)
                    if loss is None:  # skipped
                        continue
                    self.step += 1
                    self.tokens += metrics.get("tokens", 0) * self.workers.world_size
                    if self.show_progress:
                        bar.update(self.step, loss, self.throughput())
                    self.emit("on_step_end", {"step": self.step, "loss": loss, "lr": self.lr})
                    self._record_train_loss(loss)
                    if self.step % cfg.eval_every == 0 or self._budget_spent():
                        last = self.validate(loss, self.elapsed, self.tokens)
                        if self.show_progress:
                            bar.message(self._describe(last))
                    if self.stopped_early:
                        self._note_early_stop(bar)
                    self._checkpoint(signals)
        finally:
            bar.close()
            self.log.close()
        self.workers.barrier()  # rank 0 has written the best model before any rank reads it
        return last

    def _checkpoint(self, signals: SignalGuard) -> None:
        """Save the resumable state when due; after SIGINT/SIGTERM, save it and stop."""
        cfg = self.config
        # any rank's signal stops every rank at this same update (the save is collective)
        (signalled,) = self.workers.sum([1.0 if signals.received is not None else 0.0])
        minutes = cfg.save_every_minutes
        due = (
            self.stopped_early
            or self.step % cfg.save_every == 0
            or self._budget_spent()
            or (minutes is not None and self.elapsed - self.saved_at >= minutes * 60)
        )
        if not (due or signalled):
            return
        saved = self.save_state()
        if signalled:
            signum = signals.received or signal.SIGINT  # another rank's signal
            raise Interrupted(signum, self.step, saved, best=not math.isinf(self.best_valid))

    def throughput(self) -> float:
        """Tokens per second of this process's training (a resumed run: since it resumed)."""
        tokens, elapsed = self.session
        return (self.tokens - tokens) / max(self.elapsed - elapsed, 1e-9)

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
                "epoch": self.source.epoch,
                "tokens": self.tokens,
                "tokens_per_s": round(self.throughput(), 1),  # this session's, as printed
                "elapsed_s": round(self.elapsed, 3),
            }
        )

    def _note_early_stop(self, bar: ProgressBar) -> None:
        n = self.early_stopping.bad_validations
        text = f"early stopping at step {self.step}: no improvement in {n} validations"
        self.log.write({"kind": "stop", "step": self.step, "reason": text})
        if self.show_progress:
            bar.message(text)

    # -- validation -------------------------------------------------------------------

    def monitor(self, metrics: dict[str, Any]) -> str:
        """The metric that picks the best model: ``config.monitor``, else the first one."""
        name = self.config.monitor or next(iter(metrics))
        if name not in metrics:
            raise ValueError(f"monitor {name!r} is not among the metrics: {', '.join(metrics)}")
        return name

    def validate(self, train_loss: float, elapsed: float, tokens: int) -> dict[str, Any]:
        """Measure validation metrics (rank 0), keep the best model, log, emit ``on_eval_end``.

        Rank 0 evaluates; the other ranks follow its monitored value (schedule, early stop).
        With weight averaging (NT-ASGD, EMA), the averaged weights are measured and kept.
        """
        averaging = self.averaging
        with averaging.averaged() if averaging is not None else nullcontext():
            metrics = self.evaluator() if self.workers.is_main else {}
            monitor = self.monitor(metrics) if metrics else (self.config.monitor or "")
            sign = -1.0 if monitor in MAXIMIZED else 1.0  # lower is better after the sign
            signed = self.workers.broadcast(sign * metrics[monitor] if metrics else 0.0)
            if signed < self.best_valid:
                self.best_valid = signed
                if self.out_dir is not None and self.workers.is_main:
                    self.write_model(self.out_dir)
        self.schedule.observe(signed)
        self.stopped_early = self.early_stopping.observe(signed)
        record = {
            "kind": "valid",
            "step": self.step,
            "train_loss": train_loss,
            **{f"valid_{k}": v for k, v in metrics.items()},
            f"best_valid_{monitor}": sign * self.best_valid,
            "lr": self.lr,
            "elapsed_s": round(elapsed, 2),
            "tokens": tokens,
        }
        if averaging is not None:  # the updates averaged into these weights; the trigger
            record["averaged_updates"] = averaging.count
            switch = averaging.observe(signed)
            if isinstance(averaging, NTASGD):
                record["nt_asgd_switch"] = switch
        self.history.append(record)
        self.log.write(record)
        self.emit("on_eval_end", record)
        return record

    def _budget_spent(self) -> bool:
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return True
        return cfg.max_minutes is not None and self.elapsed >= cfg.max_minutes * 60

    def _time_fraction(self) -> float:
        minutes = self.config.max_minutes
        return self.elapsed / (minutes * 60) if minutes is not None else 0.0

    def _describe(self, m: dict[str, Any]) -> str:
        if "valid_nats" in m:
            unit = getattr(self.model, "unit", "token")  # a language model says char or word
            return (
                f"step {m['step']}: valid {m['valid_nats']:.4f} nats/{unit} "
                f"({m['valid_bits']:.4f} bits/{unit}), best {m['best_valid_nats']:.4f}"
            )
        shown = ", ".join(f"{k[6:]} {v:.4f}" for k, v in m.items() if k.startswith("valid_"))
        return f"step {m['step']}: valid {shown}"

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

    def state_dict(self, *, durable: bool = True) -> dict[str, Any]:
        """Everything but the weights that continuing bit for bit needs (collective under DDP).

        ``durable=False`` (a reference to check a loaded state against, not for saving) skips
        the fsync that makes the metrics log's size safe to record.

        ``{"meta": JSON-able, "tensors": {name: tensor}}``: step and counters, the source's
        data position, schedules, early stopping, optimizer, every rank's torch RNG state and
        carried recurrent state, Python's and NumPy's global RNGs, and how many bytes of
        ``metrics.jsonl`` existed (a resumed run cuts off the records it will write again).
        Validation draws no random numbers, so the RNG state saved after it is the state the
        next update starts from in the uninterrupted run too.
        """
        workers = self.workers
        tensors = {f"rng.torch.{r}": t for r, t in enumerate(workers.gather(torch.get_rng_state()))}
        carried, structure = flatten_state(self.state)
        for i, value in enumerate(carried):
            for rank, part in enumerate(workers.gather(value.detach())):
                tensors[f"hidden.{rank}.{i}"] = part
        opt_tensors, opt_meta = ckpt.optimizer_to_files(self.optimizer)
        avg_meta, avg_tensors = self.averaging.state_dict() if self.averaging else (None, {})
        meta = {
            "config": asdict(self.config),
            "world_size": workers.world_size,
            "step": self.step,
            "data": self.source.state_dict(),
            "tokens": self.tokens,
            "elapsed_s": self.elapsed,
            "best_valid": None if math.isinf(self.best_valid) else self.best_valid,
            "lr": self.lr,
            "skipped": self.skipped,
            "stopped_early": self.stopped_early,
            "loss_window": self.loss_window,
            "metrics_bytes": self.log.size() if durable else 0,
            "schedule": self.schedule.state_dict(),
            "early_stopping": self.early_stopping.state_dict(),
            "global_rng": ckpt.global_rng_meta(),
            "hidden": structure,
            "optimizer": opt_meta,
            "grad_scaler": self.precision.state_dict(),
            "averaging": avg_meta,
        }
        return {"meta": meta, "tensors": {**tensors, **opt_tensors, **avg_tensors}}

    def load_state_dict(self, state: dict[str, Any], *, where: str = "trainer state") -> None:
        """Inverse of :meth:`state_dict`; refuses other settings or another process count."""
        meta, tensors = state["meta"], state["tensors"]
        reference = self.state_dict(durable=False)
        ckpt.check_state(state, reference, self.optimizer, where=where)  # before any load
        self._check_compatible(meta, where)
        rank = self.workers.rank
        ckpt.optimizer_from_files(self.optimizer, tensors, meta["optimizer"])
        self.precision.load_state_dict(meta.get("grad_scaler"))
        if self.averaging is not None:
            self.averaging.load_state_dict(meta["averaging"], tensors)
        torch.set_rng_state(tensors[f"rng.torch.{rank}"])
        ckpt.restore_global_rng(meta["global_rng"])
        carried = [tensors[f"hidden.{rank}.{i}"] for i in range(count_hidden(tensors, rank))]
        if hasattr(self.source, "carry"):
            self._check_carried(carried, where)
            self.source.carry(unflatten_state(carried, meta["hidden"]))
        try:  # the data position against this data (its size, seed): the source's own check
            self.source.load_state_dict(meta["data"])
        except ValueError as e:
            raise CheckpointError(f"{Path(where) / ckpt.META_NAME}: field data: {e}") from None
        self.step, self.tokens, self.elapsed = meta["step"], meta["tokens"], meta["elapsed_s"]
        self.best_valid = math.inf if meta["best_valid"] is None else meta["best_valid"]
        self.lr, self.skipped = meta["lr"], meta["skipped"]
        self.stopped_early = meta["stopped_early"]  # a run that stopped early stays stopped
        self.loss_window = list(meta["loss_window"])
        self.schedule.load_state_dict(meta["schedule"])
        self.early_stopping.load_state_dict(meta["early_stopping"])
        self.log.start(keep_bytes=meta["metrics_bytes"], step=self.step)

    def _check_carried(self, carried: list[Tensor], where: str) -> None:
        """The carried recurrent state has the shapes the model's own state has: a state
        from a one-token window of this rank's columns (eval mode: nothing drawn from the RNG)."""
        if not carried:
            return
        cols = self.workers.columns(self.config.batch_size)
        probe = torch.zeros(cols.stop - cols.start, 1, dtype=torch.long)
        _, fresh = in_eval_mode(self.model, lambda: self.model(probe))
        expected = [tuple(t.shape) for t in flatten_state(fresh)[0]]
        got = [tuple(t.shape) for t in carried]
        if got != expected:
            raise CheckpointError(f"{Path(where) / ckpt.TENSORS_NAME}: field hidden: shapes "
                                  f"{got}, but this model's state is {expected}")  # fmt: skip

    def _check_compatible(self, meta: dict[str, Any], where: str) -> None:
        if meta["world_size"] != self.workers.world_size:
            raise CheckpointError(
                f"{where}: saved by {meta['world_size']} processes; resume with the same "
                f"number, not {self.workers.world_size}"
            )
        mine = asdict(self.config)
        changed = sorted(
            k for k, v in meta["config"].items() if k not in BUDGET_FIELDS and mine.get(k) != v
        )
        if changed:
            raise CheckpointError(
                f"{where}: saved with other training settings ({', '.join(changed)}); "
                "only the budget (max_steps, max_minutes) may change on resume"
            )

    def save_state(self) -> Path | None:
        """Write a resumable checkpoint to ``OUT/trainer_state/step-NNNNNN`` (rank 0 writes);
        returns its directory (None: no ``out_dir``)."""
        self.saved_at = self.elapsed
        if self.out_dir is None:
            return None
        state = self.state_dict()
        directory = self.out_dir / ckpt.STATE_DIR / f"step-{self.step:06d}"
        if self.workers.is_main:
            directory = files.save_trainer_state(
                self.out_dir,
                self.step,
                state,
                write_model=self.write_model,
                keep_last=self.config.keep_last,
            )
        return directory

    def resume(self) -> int:
        """Load the newest checkpoint in ``OUT/trainer_state`` (if any); returns its step.

        Training then continues exactly where it stood: same data position, carried state,
        optimizer, schedules and RNG states, so later losses equal an uninterrupted run's.
        """
        found = files.load_trainer_state(self.out_dir) if self.out_dir is not None else None
        if found is None:
            return 0
        path, state = found
        self.load_state_dict(state, where=str(path))
        load_state(self.model, path)
        self._started = True
        return self.step


def count_hidden(tensors: dict[str, Tensor], rank: int) -> int:
    prefix = f"hidden.{rank}."
    return sum(1 for name in tensors if name.startswith(prefix))
