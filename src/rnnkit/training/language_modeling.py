"""The language-modelling job end to end: text -> vocabulary -> model -> Trainer -> checkpoint.

A run records how it was started in ``OUT/trainer_state/run.json`` (architecture, training
config, validation split, a SHA-256 of the text and, from the CLI, the command-line options),
so ``rnnkit train lm --resume OUT`` needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnkit.data.text import split_contiguous
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import CheckpointError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.pretrained import atomic_write
from rnnkit.training.checkpoint import STATE_DIR
from rnnkit.training.distributed import Workers
from rnnkit.training.tbptt import Objective
from rnnkit.training.trainer import Callback, TrainConfig, Trainer

RUN_NAME = "run.json"
RUN_FORMAT = "rnnkit.lm_run/1"


@dataclass
class LMRun:
    """What a finished run reports."""

    model: LanguageModel
    best_valid_nats: float
    steps: int
    wall_seconds: float
    out_dir: Path
    resumed_from: int = 0  # the step a resumed run continued from (0: a fresh run)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_run_record(out_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``OUT/trainer_state/run.json`` atomically."""
    path = Path(out_dir) / STATE_DIR / RUN_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": RUN_FORMAT, **record}, indent=2, ensure_ascii=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, "utf-8"))
    return path


def load_run_record(out_dir: str | Path) -> dict[str, Any]:
    """Read ``OUT/trainer_state/run.json`` with one-line errors."""
    path = Path(out_dir) / STATE_DIR / RUN_NAME
    if not Path(out_dir).is_dir():
        raise CheckpointError(f"{out_dir}: no such run directory")
    try:
        record = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; not a resumable rnnkit run") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{path}: not an rnnkit language-model run")
    return record


def train_char_lm(
    text: str,
    model_fields: dict,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    valid_fraction: float = 0.1,
    progress: bool = True,
    resume: bool = False,
    cli_options: dict[str, Any] | None = None,
    callbacks: dict[str, list[Callback]] | None = None,
    objective: Objective | None = None,
) -> LMRun:
    """Train a character-level LM on ``text`` (first 1 - f for training, last f for validation).

    The best model by validation loss is saved to ``out_dir`` and returned. With ``resume``
    the run continues from the newest checkpoint in ``out_dir/trainer_state`` (the text must
    be the one the run started with); ``cli_options`` are stored in ``run.json`` for that.
    """
    if resume:
        check_same_text(out_dir, text)
    train_text, valid_text = split_contiguous(text, valid_fraction)
    vocab = CharVocab.from_text(train_text)  # unseen validation characters map to <unk>
    torch.manual_seed(train_config.seed)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), **model_fields), vocab)
    trainer = Trainer(
        model,
        vocab.encode(train_text),
        vocab.encode(valid_text),
        train_config,
        out_dir=out_dir,
        progress=progress,
        callbacks=callbacks,
        objective=objective,
    )
    resumed_from = trainer.resume() if resume else 0
    is_main = Workers.current().is_main
    if not resume and is_main:
        record = {
            "model": model_fields,
            "training": asdict(train_config),
            "valid_fraction": valid_fraction,
            "text_sha256": text_digest(text),
            "cli": cli_options,
        }
        save_run_record(out_dir, record)
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    best = LanguageModel.from_pretrained(out_dir) if is_main else model  # OUT may be rank 0's
    return LMRun(best, trainer.best_valid, trainer.step, wall, Path(out_dir), resumed_from)


def check_same_text(out_dir: str | Path, text: str) -> None:
    """Refuse to resume a run on a text other than the one it started with."""
    digest = load_run_record(out_dir).get("text_sha256")
    if digest is not None and digest != text_digest(text):
        raise CheckpointError(
            f"{out_dir}: the training text changed since the run started; cannot resume it"
        )
