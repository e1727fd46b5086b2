"""Saving and restoring everything a :class:`Trainer` needs to continue bit for bit.

What is saved after update ``s`` (after validation, when that step has one):

- model weights and optimizer state (Adam's moments and step counts...);
- the learning-rate schedule, early stopping and best validation loss;
- the data position (epoch, steps read per column), the carried recurrent state and the
  running train-loss window;
- RNG states: torch's CPU generator (dropout) of every rank, the window-length generator,
  Python's and NumPy's global generators;
- how many bytes of ``metrics.jsonl`` existed, so a resumed run cuts off the records of the
  steps it will run again.

Validation runs the model in eval mode and draws no random numbers, so the RNG state saved
after it is the state the next update starts from in the uninterrupted run too.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnkit.errors import CheckpointError
from rnnkit.tasks.pretrained import load_state
from rnnkit.training import checkpoint as ckpt

if TYPE_CHECKING:
    from rnnkit.training.trainer import Trainer

BUDGET_FIELDS = ("max_steps", "max_minutes")  # may change when a run is resumed


def _gathered_tensors(trainer: Trainer) -> tuple[dict[str, Tensor], Any]:
    """Every rank's torch RNG state and carried state (collective: all ranks call it)."""
    workers = trainer.workers
    tensors = {f"rng.torch.{r}": t for r, t in enumerate(workers.gather(torch.get_rng_state()))}
    hidden, structure = ckpt.state_to_tensors(trainer.state, "hidden")
    for name, value in hidden.items():
        for rank, part in enumerate(workers.gather(value)):
            tensors[name.replace("hidden.", f"hidden.{rank}.", 1)] = part
    return tensors, structure


def save_trainer_state(trainer: Trainer) -> Path | None:
    """Write ``OUT/trainer_state/step-NNNNNN/``; every rank calls it, rank 0 writes."""
    tensors, structure = _gathered_tensors(trainer)
    if not trainer.workers.is_main:
        return None
    opt_tensors, opt_meta = ckpt.optimizer_to_files(trainer.optimizer)
    meta = {
        "format": ckpt.FORMAT,
        "config": asdict(trainer.config),
        "world_size": trainer.workers.world_size,
        "step": trainer.step,
        "epoch": trainer.stream.epoch,
        "position": trainer.stream.position,
        "tokens": trainer.tokens,
        "elapsed_s": trainer.elapsed,
        "best_valid": None if math.isinf(trainer.best_valid) else trainer.best_valid,
        "lr": trainer.lr,
        "skipped": trainer.skipped,
        "stopped_early": trainer.stopped_early,
        "loss_window": trainer.loss_window,
        "metrics_bytes": trainer.log.size(),
        "schedule": trainer.schedule.state_dict(),
        "early_stopping": trainer.early_stopping.state_dict(),
        "window_rng": ckpt.python_rng_to_json(trainer.window_rng.getstate()),
        "global_rng": ckpt.global_rng_meta(),
        "hidden": structure,
        "optimizer": opt_meta,
    }
    return ckpt.save_state_dir(
        trainer.out_dir,
        trainer.step,
        write_model=trainer.write_model,
        tensors={**tensors, **opt_tensors},
        meta=meta,
        keep_last=trainer.config.keep_last,
    )


def resume_trainer_state(trainer: Trainer) -> int | None:
    """Load the newest step directory into ``trainer``; its step, or None if there is none."""
    found = ckpt.step_dirs(trainer.out_dir)
    if not found:
        return None
    path = found[-1]
    tensors, meta = ckpt.load_state_dir(path)
    check_compatible(trainer, path, meta)
    rank = trainer.workers.rank
    load_state(trainer.model, path)
    ckpt.optimizer_from_files(trainer.optimizer, tensors, meta["optimizer"])
    torch.set_rng_state(tensors[f"rng.torch.{rank}"])
    ckpt.restore_global_rng(meta["global_rng"])
    trainer.window_rng.setstate(ckpt.python_rng_from_json(meta["window_rng"]))
    hidden = {k: v for k, v in tensors.items() if k.startswith(f"hidden.{rank}.")}
    trainer.state = ckpt.state_from_tensors(hidden, f"hidden.{rank}", meta["hidden"])
    trainer.stream.epoch, trainer.stream.position = meta["epoch"], meta["position"]
    trainer.step, trainer.tokens, trainer.elapsed = meta["step"], meta["tokens"], meta["elapsed_s"]
    trainer.best_valid = math.inf if meta["best_valid"] is None else meta["best_valid"]
    trainer.lr, trainer.skipped = meta["lr"], meta["skipped"]
    trainer.stopped_early = meta["stopped_early"]  # a run that stopped early stays stopped
    trainer.loss_window = list(meta["loss_window"])
    trainer.schedule.load_state_dict(meta["schedule"])
    trainer.early_stopping.load_state_dict(meta["early_stopping"])
    trainer.log.start(keep_bytes=meta["metrics_bytes"], step=trainer.step)
    return trainer.step


def check_compatible(trainer: Trainer, path: Path, meta: dict[str, Any]) -> None:
    """Refuse a checkpoint saved by another number of processes or other settings."""
    if meta["world_size"] != trainer.workers.world_size:
        raise CheckpointError(
            f"{path}: saved by {meta['world_size']} processes; resume with the same number, "
            f"not {trainer.workers.world_size}"
        )
    mine = asdict(trainer.config)
    changed = sorted(
        k for k, v in meta["config"].items() if k not in BUDGET_FIELDS and mine.get(k) != v
    )
    if changed:
        raise CheckpointError(
            f"{path}: saved with other training settings ({', '.join(changed)}); "
            "only the budget (max_steps, max_minutes) may change on resume"
        )
