"""Predicting moving digits: ConvLSTM against a fully connected LSTM (Shi et al. 2015).

What ``rnnkit train frames`` does: split scikit-learn's scans into disjoint training,
validation and test sets, draw sequences of two digits bouncing in a 48x48 canvas
(:mod:`rnnkit.data.moving_digits`; fresh training sequences every batch, fixed validation and
test sequences), train each chosen model (:class:`~rnnkit.tasks.frames.FramesModel`:
``convlstm``, ``convgru``, ``fc-lstm``) with the one Trainer into ``OUT/<model>`` (best by
validation per-frame MSE), and report every model beside two baselines on the test
sequences: copying the last observed frame, and the mean of the observed frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps.runs import Job, Preset, Run, RunConfig, start
from rnnkit.data.digits import split_scans
from rnnkit.data.moving_digits import MovingDigitBatches, moving_digits
from rnnkit.options import option
from rnnkit.tasks.frames import MODELS, FramesConfig, FramesModel, per_frame_mse
from rnnkit.tasks.pretrained import write_json
from rnnkit.training.trainer import Trainer

REPORT_NAME = "report.json"
EVAL_BATCH = 32


@dataclass(frozen=True)
class FramesTask:
    """The sequences: canvas, frames, digits and how many held-out sequences."""

    canvas: int = option(48, "frame height and width in pixels", low=24, high=512)
    frames_in: int = option(10, "observed frames", low=1, high=100)
    frames_out: int = option(10, "frames to predict", low=1, high=100)
    digits: int = option(2, "digits per sequence", low=1, high=5)
    speed: float = option(3.0, "pixels a digit moves per frame", low=0.0, high=20.0)
    valid_sequences: int = option(256, "validation sequences (validation scans)", low=1,
                                  high=10**6)  # fmt: skip
    test_sequences: int = option(512, "test sequences (test scans)", low=1, high=10**6)


def check_sizes(config: RunConfig) -> None:
    """The architecture fits the canvas (a patch that divides it, an odd kernel)."""
    task = config.data
    FramesConfig(task.canvas, task.frames_in, task.frames_out, **config.model)


PRESETS: dict[str, Preset] = {
    "default": Preset(
        "2-layer ConvLSTM 32 (3x3, 4x4 patches) / FC-LSTM 512, 6 minutes per model",
        model={"hidden_channels": 32, "kernel_size": 3, "patch": 4, "hidden_size": 512,
               "num_layers": 2},
        training={"batch_size": 16, "lr": 2e-3, "max_minutes": 6.0, "eval_every": 100,
                  "clip_norm": 1.0},
    ),
    "tiny": Preset(
        "4 channels / 16 units, 6 steps per model: smoke tests",
        data={"valid_sequences": 8, "test_sequences": 8},
        model={"hidden_channels": 4, "kernel_size": 3, "patch": 8, "hidden_size": 16,
               "num_layers": 1},
        training={"batch_size": 4, "lr": 1e-2, "max_steps": 6, "eval_every": 3},
    ),
}  # fmt: skip

#: ``rnnkit train frames`` for the run lifecycle; each model trains in ``OUT/<model>``
JOB = Job("frames", FramesTask, FramesConfig, sizes=("canvas", "frames_in", "frames_out"),
          presets=PRESETS, metrics=FramesModel.METRICS, check=check_sizes)  # fmt: skip


def model_runs(models: list[str], run: Run, *, overwrite: bool = False) -> dict[str, Run]:
    """One run per model, into ``OUT/<model>``, each directory checked before any trains."""
    return {
        name: start(JOB, run.out / name, replace(run.config, model={**run.config.model,
                    "model": name}), overwrite=overwrite)
        for name in models
    }  # fmt: skip


@dataclass
class FramesRun:
    """Per model and baseline: test per-frame MSE and per-pixel cross-entropy."""

    scores: dict[str, dict[str, float]]
    steps: dict[str, int]
    test: torch.Tensor  # (N, T, H, W) the test sequences
    models: dict[str, FramesModel]

    def table(self) -> str:
        lines = [f"{'model':<28}{'MSE per frame':>14}{'BCE per pixel':>15}"]
        for name, s in self.scores.items():
            bce = f"{s['bce']:>15.4f}" if "bce" in s else f"{'':>15}"
            lines.append(f"{name:<28}{s['mse']:>14.2f}{bce}")
        return "\n".join(lines)


def sequences(task: FramesTask, scans: Any, count: int, seed: int) -> torch.Tensor:
    frames = task.frames_in + task.frames_out
    return moving_digits(scans, count, seed=seed, digits=task.digits, frames=frames,
                         canvas=task.canvas, speed=task.speed)  # fmt: skip


def baselines(task: FramesTask, test: torch.Tensor) -> dict[str, dict[str, float]]:
    """Copy the last observed frame; the mean of the observed frames (both per sequence)."""
    seen, truth = test[:, : task.frames_in], test[:, task.frames_in :]
    last = seen[:, -1:].expand_as(truth)
    mean = seen.mean(1, keepdim=True).expand_as(truth)
    return {"baseline: copy the last frame": {"mse": per_frame_mse(last, truth)},
            "baseline: mean observed frame": {"mse": per_frame_mse(mean, truth)}}  # fmt: skip


def train_frames(
    runs: dict[str, Run], out_dir: str | Path, *, progress: bool = True,
    say: Callable[[str], Any] = print,
) -> FramesRun:  # fmt: skip
    """Train each model's run, report them and the baselines on the test sequences."""
    first = next(iter(runs.values())).config
    task, config = first.data, first.training
    train_scans, valid_scans, test_scans = split_scans(seed=config.seed)
    valid = sequences(task, valid_scans, task.valid_sequences, config.seed + 1).split(EVAL_BATCH)
    test = sequences(task, test_scans, task.test_sequences, config.seed + 2)
    scores, steps, models = baselines(task, test), {}, {}
    for i, (name, run) in enumerate(runs.items(), start=1):
        say(f"training {name} ({i} of {len(runs)})")
        torch.manual_seed(config.seed)
        model = FramesModel(JOB.model_config(run.config, task.canvas, task.frames_in,
                                             task.frames_out))  # fmt: skip
        source = MovingDigitBatches(train_scans, config.batch_size, seed=config.seed,
                                    digits=task.digits, frames=task.frames_in + task.frames_out,
                                    canvas=task.canvas, speed=task.speed)  # fmt: skip
        trainer = Trainer(model, source, list(valid), run.config.training, out_dir=run.out,
                          progress=progress, label=name)  # fmt: skip
        trainer.fit()
        models[name] = best = FramesModel.from_pretrained(run.out)
        with torch.no_grad():
            scores[name] = best.evaluate(test.split(EVAL_BATCH))
        steps[name] = trainer.step
    write_json(Path(out_dir) / REPORT_NAME, {"task": asdict(task), "scores": scores,
                                             "steps": steps})  # fmt: skip
    return FramesRun(scores, steps, test, models)


__all__ = ["JOB", "MODELS", "PRESETS", "FramesRun", "model_runs", "train_frames"]
