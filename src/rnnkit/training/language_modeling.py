"""The language-modelling job end to end: text -> vocabulary -> model -> Trainer -> checkpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.text import split_contiguous
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.trainer import TrainConfig, Trainer


@dataclass
class LMRun:
    """What a finished run reports."""

    model: LanguageModel
    best_valid_nats: float
    steps: int
    wall_seconds: float
    out_dir: Path


def train_char_lm(
    text: str,
    model_fields: dict,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    valid_fraction: float = 0.1,
    progress: bool = True,
) -> LMRun:
    """Train a character-level LM on ``text`` (first 1 - f for training, last f for validation).

    The best model by validation loss is saved to ``out_dir`` and returned.
    """
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
    )
    start = time.monotonic()
    trainer.fit()
    wall = time.monotonic() - start
    best = LanguageModel.from_pretrained(out_dir)
    return LMRun(best, trainer.best_valid, trainer.step, wall, Path(out_dir))
