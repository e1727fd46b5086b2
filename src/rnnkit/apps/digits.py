"""Reading handwritten numbers: rows of scanned digits -> CNN context -> the digit string.

What ``rnnkit train digits`` does: split scikit-learn's 1,797 scanned 8x8 digits into
training, validation and test scans (disjoint, stratified by digit), build images of
``min_digits``–``max_digits`` digits by placing scans side by side (test images only from
test scans), train a :class:`~rnnkit.tasks.context_to_sequence.ContextToSequence` model with the
one Trainer (best checkpoint by validation sequence accuracy), and report on the test images:
sequence accuracy (the whole string right) and character accuracy (1 - edit distance / length,
summed over the images).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from rnnkit.apps.runs import Job, Preset, Run
from rnnkit.apps.seq2seq import Fitted, fit
from rnnkit.data.digits import DigitStrings, digit_strings, split_scans
from rnnkit.data.padded import BucketBatches, iter_batches
from rnnkit.options import option
from rnnkit.tasks.context_to_sequence import (
    ContextConfig,
    ContextToSequence,
    digit_vocab,
    image_batch,
)
from rnnkit.tasks.pretrained import write_json
from rnnkit.training.metrics import edit_distance

REPORT_NAME = "report.json"

PRESETS: dict[str, Preset] = {
    "default": Preset(
        "CNN context -> LSTM 128 decoder, 5 minutes",
        model={"channels": 32, "context_size": 256, "hidden_size": 128},
        training={"batch_size": 64, "lr": 2e-3, "max_minutes": 5.0, "eval_every": 250,
                  "schedule": "cosine", "warmup_steps": 100},
    ),
    "tiny": Preset(
        "tiny CNN and decoder, 20 steps: smoke tests",
        model={"channels": 4, "context_size": 16, "hidden_size": 16, "embedding_size": 8},
        training={"batch_size": 8, "lr": 1e-2, "max_steps": 20, "eval_every": 10},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class DigitTask:
    """The images to read."""

    min_digits: int = option(3, "fewest digits in an image", low=1, high=32)
    max_digits: int = option(6, "most digits in an image", low=1, high=32)
    train_images: int = option(60_000, "training images (from training scans)", low=1,
                               high=10**7)  # fmt: skip
    valid_images: int = option(1000, "validation images (from validation scans)", low=1,
                               high=10**6)  # fmt: skip
    test_images: int = option(2000, "test images (from test scans)", low=1, high=10**6)

    def __post_init__(self) -> None:
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits must be <= max_digits, got {self.min_digits} > "
                             f"{self.max_digits}")  # fmt: skip


#: ``rnnkit train digits`` for the run lifecycle (:mod:`rnnkit.apps.runs`); the images are
#: regenerated from the recorded seed on ``--resume``
JOB = Job("digits", DigitTask, ContextConfig,
          sizes=("target_vocab_size", "image_height", "image_width"), presets=PRESETS,
          metrics=ContextToSequence.METRICS, probe=(14,))  # fmt: skip


def make_images(task: DigitTask, seed: int) -> tuple[DigitStrings, DigitStrings, DigitStrings]:
    """Train, validation and test images, each from its own scans."""
    scans = split_scans(seed=seed)
    g = torch.Generator().manual_seed(seed)
    counts = (task.train_images, task.valid_images, task.test_images)
    return tuple(
        digit_strings(part, count, min_digits=task.min_digits, max_digits=task.max_digits,
                      generator=g)
        for part, count in zip(scans, counts, strict=True)
    )  # fmt: skip


def read_scores(model: ContextToSequence, data: DigitStrings) -> tuple[float, float]:
    """(sequence accuracy, character accuracy) of ``model`` reading ``data``'s images."""
    outputs = model.read(data.images, data.widths)
    right = sum(o == want for o, want in zip(outputs, data.labels, strict=True))
    edits = sum(edit_distance(o, want) for o, want in zip(outputs, data.labels, strict=True))
    chars = sum(len(want) for want in data.labels)
    return right / len(outputs), 1.0 - edits / chars


@dataclass
class DigitRun:
    fitted: Fitted
    sequence_accuracy: float
    character_accuracy: float


def train_digit_reader(run: Run, *, progress: bool = True) -> DigitRun:
    """Train on images of training scans, choose on validation, report the test images."""
    task, config, out_dir = run.config.data, run.config.training, run.out
    train, valid, test = make_images(task, config.seed)
    vocab = digit_vocab()
    width = 8 * task.max_digits
    torch.manual_seed(config.seed)
    model = ContextToSequence(JOB.model_config(run.config, len(vocab), image_width=width), vocab)
    batch = lambda data: lambda order: image_batch(  # noqa: E731
        data.images, data.widths, data.labels, order, vocab
    )
    source = BucketBatches(train.labels, train.labels, config.batch_size, seed=config.seed,
                           collate=batch(train))  # fmt: skip
    valid_batches = list(iter_batches(valid.labels, valid.labels, 256, collate=batch(valid)))
    fitted = fit(model, source, valid_batches, run, progress=progress)
    sequence, character = read_scores(fitted.model, test)
    write_json(Path(out_dir) / REPORT_NAME, {
        "best_valid_sequence_accuracy": fitted.best_valid, "steps": fitted.steps,
        "wall_seconds": fitted.wall_seconds, "task": asdict(task),
        "test": {"images": len(test.labels), "sequence_accuracy": sequence,
                 "character_accuracy": character},
    })  # fmt: skip
    return DigitRun(fitted, sequence, character)
