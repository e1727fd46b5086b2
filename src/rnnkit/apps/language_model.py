"""The language-modelling job end to end: text -> vocabulary -> model -> Trainer -> checkpoint.

What ``rnnkit train lm`` does: split the text into a leading training part and a trailing
validation part, build the character vocabulary on the training part, train a
:class:`~rnnkit.tasks.LanguageModel` with the one Trainer (best checkpoint by validation loss)
and return an :class:`LMRun`; :func:`generate` then samples from it. ``LM_PRESETS`` are the
named architecture + training settings the command starts from.

A run records how it was started in ``OUT/trainer_state/run.json`` (architecture, training
config, validation split, a SHA-256 of the text and, from the CLI, the command-line options),
so ``rnnkit train lm --resume OUT`` needs nothing else.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnkit.data.text import split_contiguous
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import CheckpointError, DataError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.checkpoint import load_run_record, save_run_record
from rnnkit.training.distributed import Workers
from rnnkit.training.tbptt import Objective
from rnnkit.training.trainer import Callback, TrainConfig, Trainer

#: name -> (LanguageModelConfig fields, TrainConfig fields, one-line description)
LM_PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "default": (
        {"cell": "lstm", "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        {
            "batch_size": 64,
            "bptt": 100,
            "lr": 3e-3,
            "schedule": "cosine",  # decays over the time budget to min_lr_ratio * lr
            "warmup_steps": 50,
            "max_minutes": 15.0,
            "eval_every": 250,
        },
        "2x256 LSTM, 15 minutes on a 2-core CPU: ~1.5 nats/char on tinyshakespeare",
    ),
    "quick": (
        {"cell": "lstm", "hidden_size": 128, "num_layers": 2, "dropout": 0.0},
        {"batch_size": 32, "bptt": 64, "lr": 3e-3, "max_minutes": 2.0, "eval_every": 200},
        "2x128 LSTM, 2 minutes: recognisable text, a first look",
    ),
    "tiny": (
        {"cell": "lstm", "hidden_size": 32, "num_layers": 1, "dropout": 0.0},
        {"batch_size": 8, "bptt": 32, "lr": 1e-2, "max_steps": 30, "eval_every": 10},
        "1x32 LSTM, 30 steps: smoke tests",
    ),
}


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
    source: str = "text",
) -> LMRun:
    """Train a character-level LM on ``text`` (first 1 - f for training, last f for validation).

    The best model by validation loss is saved to ``out_dir`` and returned. With ``resume``
    the run continues from the newest checkpoint in ``out_dir/trainer_state`` (the text must
    be the one the run started with); ``cli_options`` are stored in ``run.json`` for that.
    ``source`` names the text in errors (its file).

    Raises:
        DataError: the text is too short for one training batch and a validation stretch.
    """
    if resume:
        check_same_text(out_dir, text)
    check_text_length(text, train_config.batch_size, valid_fraction, source)
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
        save_run_record(out_dir, "lm", record)
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    best = LanguageModel.from_pretrained(out_dir) if is_main else model  # OUT may be rank 0's
    nats = trainer.best_valid * (math.log(2) if train_config.monitor == "bits" else 1.0)
    return LMRun(best, nats, trainer.step, wall, Path(out_dir), resumed_from)


def check_text_length(text: str, batch_size: int, valid_fraction: float, source: str) -> None:
    """Refuse a text too short to split into ``batch_size`` columns plus a validation stretch.

    The training part needs more than ``batch_size`` characters (each column one input and its
    target), the validation part at least 2 (one input, one target).
    """
    train_text, valid_text = split_contiguous(text, valid_fraction)
    if len(train_text) > batch_size and len(valid_text) >= 2:
        return
    need = max(batch_size + 3, math.ceil((batch_size + 1) / (1.0 - valid_fraction)) - 2)
    while not _long_enough(need, batch_size, valid_fraction):
        need += 1
    raise DataError(
        f"{source}: {len(text)} characters is too short for batch size {batch_size}: it needs "
        f"at least {need} ({batch_size + 1} for training, 2 for validation at valid fraction "
        f"{valid_fraction:g}); give a longer text or a smaller batch size"
    )


def _long_enough(length: int, batch_size: int, valid_fraction: float) -> bool:
    cut = int(length * (1.0 - valid_fraction))  # as split_contiguous cuts
    return cut > batch_size and length - cut >= 2


def check_same_text(out_dir: str | Path, text: str) -> None:
    """Refuse to resume a run on a text other than the one it started with."""
    digest = load_run_record(out_dir, "lm").get("text_sha256")
    if digest is not None and digest != text_digest(text):
        raise CheckpointError(
            f"{out_dir}: the training text changed since the run started; cannot resume it"
        )


def generate(
    model: LanguageModel,
    prime: str,
    length: int,
    *,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """Prime text + ``length`` sampled characters from a language model with a vocabulary."""
    from rnnkit.decoding.sampling import sample_sequence

    ids = model.vocab.encode(prime, strict=True)[None]  # (1, P)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    out = sample_sequence(
        model.step,
        ids,
        length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
    )
    return prime + model.vocab.decode(out[0])
