"""Long-range benchmarks: can a cell carry information across T steps? (``rnnkit train longrange``)

What one run does, top to bottom: build the task (:func:`task_spec`: an endless source of
fresh batches and a fixed validation set), train a
:class:`~rnnkit.tasks.longrange.LongRangeModel` with the one Trainer, note the first
validation that passes the task's *solved* threshold, and report the best model's metric
against the memoryless baseline:

==========  ========================================  ===============  ====================
task        what T is (default)                       baseline         solved when
==========  ========================================  ===============  ====================
adding      sequence length (200)                     MSE 1/6          valid MSE < 0.01
copy        the gap the symbols cross (100)           L ln 8 / (T+2L)  cross-entropy < 10 %
                                                                       of the baseline
digits      64: one pixel per step; 8: one row        accuracy 0.10    (none: accuracy)
ntm-copy    longest training sequence (20); also      bit error 0.5    valid bit error < 1 %
            scored at 1.5T, 2T, 2.5T (30, 40, 50)
==========  ========================================  ===============  ====================

"Solved after N sequences": N = training sequences seen (updates × batch size) at the first
validation past the threshold, so it is exact to within ``eval_every`` updates.
:mod:`rnnkit.apps.longrange_table` runs a list of such rows and writes their Markdown table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnkit.apps.runs import Job, Preset, Run, RunConfig, begin
from rnnkit.checks import check_int
from rnnkit.data.longrange import (
    ADDING_BASELINE_MSE,
    adding_problem,
    copy_baseline,
    copy_memory,
    ntm_copy,
    sequential_digits,
)
from rnnkit.data.synthetic_batches import (
    SequenceBatch,
    SyntheticBatches,
    fixed_batches,
)
from rnnkit.options import option
from rnnkit.tasks.longrange import (
    TASKS,
    LongRangeConfig,
    LongRangeModel,
    check_cell_task,
    check_last_step_task,
)
from rnnkit.tasks.pretrained import CONFIG_NAME, write_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.gradients import NonFiniteError
from rnnkit.training.metrics_log import METRICS_NAME
from rnnkit.training.state_gradients import state_gradient_norms
from rnnkit.training.trainer import MAXIMIZED, Trainer, in_eval_mode

REPORT_NAME = "report.json"
SYMBOLS, COPY_LENGTH, BITS = 8, 10, 8  # copy: 8 symbols, L = 10; NTM copy: 8-bit vectors
EPOCH_BATCHES = 1000  # a generated task's "epoch" (bookkeeping only)
NTM_TEST_SEQUENCES = 200  # per longer test length
EVAL_BATCH = 500  # validation sequences per forward pass
STATE_GRADIENT_SEQUENCES = 50  # validation sequences ‖∂L_T/∂h_t‖ is averaged over

#: task -> its preset: the default T (data), the model and the training
PRESETS: dict[str, Preset] = {
    "adding": Preset(
        "T=200, 128 units, Adam 1e-3, batch 50, clip 1 (Le et al. 2015; Arjovsky et al. 2016)",
        data={"T": 200}, model={"hidden_size": 128},
        training={"optimizer": "adam", "lr": 1e-3, "batch_size": 50, "clip_norm": 1.0,
                  "eval_every": 100, "max_minutes": 10.0},
    ),
    "copy": Preset(
        "T=100, 128 units, RMSprop 1e-3, batch 20, clip 1 (Arjovsky, Shah & Bengio 2016)",
        data={"T": 100}, model={"hidden_size": 128},
        training={"optimizer": "rmsprop", "lr": 1e-3, "batch_size": 20, "clip_norm": 1.0,
                  "eval_every": 100, "max_minutes": 10.0},
    ),
    "digits": Preset(
        "pixel by pixel (T=64), 128 units, Adam 1e-3, batch 32, clip 1 (Le et al. 2015)",
        data={"T": 64}, model={"hidden_size": 128},
        training={"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "clip_norm": 1.0,
                  "eval_every": 100, "max_minutes": 10.0},
    ),
    "ntm-copy": Preset(
        "lengths 1-20, 100 controller units, 128x20 memory, Adam 1e-3, batch 32, clip 10 "
        "(Graves et al. 2014; Collier & Beel 2018)",
        data={"T": 20}, model={"hidden_size": 100, "memory_slots": 128, "memory_width": 20},
        training={"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "clip_norm": 10.0,
                  "eval_every": 100, "max_minutes": 10.0},
    ),
}  # fmt: skip
#: (task, cell) -> (LongRangeConfig, TrainConfig) fields that replace the task's preset for
#: that cell; chosen on validation runs (docs/longrange.md says which)
CELL_PRESETS: dict[tuple[str, str], tuple[dict, dict]] = {
    ("adding", "irnn"): ({}, {"lr": 1e-4}),  # at 3e-4 and 1e-3 it stays at the baseline
    ("adding", "lstm"): ({}, {"lr": 1e-2}),  # at 1e-3 and 3e-3 it stays at the baseline
    ("digits", "irnn"): ({}, {"lr": 1e-4}),  # at 1e-3 it stays at chance (valid 0.10)
}


def cell_preset(task: str, cell: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(LongRangeConfig fields, TrainConfig fields) of ``task``'s preset for ``cell``."""
    preset = PRESETS[task]
    model_changes, training_changes = CELL_PRESETS.get((task, cell), ({}, {}))
    return {**preset.model, **model_changes}, {**preset.training, **training_changes}


@dataclass(frozen=True)
class LongRangeTask:
    """Which benchmark, at what length, validated on how many sequences."""

    task: str = option("adding", "the benchmark", choices=TASKS)
    T: int | None = option(None, "length: adding T, copy gap, digits 64 (pixels) or 8 (rows), "
                           "ntm-copy longest training sequence; default: the task's",
                           low=1, high=100_000, flag="--T")  # fmt: skip
    valid_sequences: int = option(1000, "fixed validation sequences", low=10, high=10**6)
    state_gradients: bool = False  # log ‖∂L_T/∂h_t‖ at each validation (StateGradientLog)


def check_run(config: RunConfig) -> None:
    """The checks of a run's whole config: T, the cell against the task, the model's fields."""
    task, T = config.data.task, config.data.T
    if T is None or check_length(task, T) != T:
        raise ValueError(f"T must be an integer, got {T!r}")
    check_cell_task(config.model["cell"], task)
    LongRangeConfig(task, 1, 1, **config.model)
    if config.data.state_gradients:
        check_last_step_task(task)


#: ``rnnkit train longrange`` for the run lifecycle (:mod:`rnnkit.apps.runs`); the presets are
#: per task (:func:`cell_preset`), so a run names its preset by its task and cell
JOB = Job("longrange", LongRangeTask, LongRangeConfig,
          sizes=("task", "input_size", "output_size"), metrics=(), check=check_run)  # fmt: skip


# -- the tasks --------------------------------------------------------------------------


@dataclass
class TaskSpec:
    """A task at one T: how to draw batches, what to validate on, what counts as solved."""

    name: str
    T: int
    input_size: int
    output_size: int
    make: Callable[[int, torch.Generator], SequenceBatch]
    valid: list[SequenceBatch]
    metric: str  # the headline metric (reported against the baseline)
    baseline: float
    threshold: float | None  # solved when the metric passes it (below, or above if maximised)
    train_size: int | None = None  # a fixed training set's size (digits); None: endless
    #: extra scores of the headline metric: name -> batches (digits' test split, NTM lengths)
    test: dict[str, list[SequenceBatch]] = field(default_factory=dict)


def task_spec(task: str, T: int | None, *, seed: int = 0, valid_sequences: int = 1000) -> TaskSpec:
    """The :class:`TaskSpec` of ``task`` at length ``T`` (None: the preset's).

    Raises:
        ValueError: an unknown task or a T the task cannot take (one line).
    """
    T = check_length(task, T)
    check_int("valid_sequences", valid_sequences, 1)
    build = {"adding": adding_spec, "copy": copy_spec, "digits": digits_spec,
             "ntm-copy": ntm_copy_spec}[task]  # fmt: skip
    return build(T, seed, valid_sequences)


def check_length(task: str, T: int | None) -> int:
    """``T`` for ``task`` (None: the preset's), or a one-line ValueError saying what fits."""
    if task not in PRESETS:
        raise ValueError(f"task must be one of {', '.join(PRESETS)}, got {task!r}")
    if T is None:
        return PRESETS[task].data["T"]
    if task == "digits" and T not in (64, 8):
        raise ValueError(f"T must be 64 (pixel by pixel) or 8 (row by row) for digits, got {T}")
    return check_int(f"T of the {task} task", T, 2 if task == "adding" else 1)


def valid_split(make: Callable, sequences: int, seed: int) -> list[SequenceBatch]:
    """``sequences`` fixed validation sequences, in batches of at most ``EVAL_BATCH``."""
    size = min(sequences, EVAL_BATCH)
    return fixed_batches(make, math.ceil(sequences / size), size, seed=seed)


def adding_spec(T: int, seed: int, valid_sequences: int) -> TaskSpec:
    make = lambda B, g: SequenceBatch(*adding_problem(B, T, generator=g))  # noqa: E731
    return TaskSpec("adding", T, 2, 1, make, valid_split(make, valid_sequences, seed), "mse",
                    ADDING_BASELINE_MSE, 0.01)  # fmt: skip


def copy_spec(T: int, seed: int, valid_sequences: int) -> TaskSpec:
    def make(B: int, g: torch.Generator) -> SequenceBatch:
        return SequenceBatch(*copy_memory(B, T, generator=g, symbols=SYMBOLS, length=COPY_LENGTH))

    baseline = copy_baseline(T, SYMBOLS, COPY_LENGTH)
    return TaskSpec("copy", T, SYMBOLS + 2, SYMBOLS + 1, make,
                    valid_split(make, valid_sequences, seed), "cross_entropy", baseline,
                    0.1 * baseline)  # fmt: skip


def digits_spec(T: int, seed: int, valid_sequences: int) -> TaskSpec:
    """Scanned 8x8 digits, a pixel (T=64) or a row (T=8) per step; batches sampled from train."""
    train, valid, test = sequential_digits(order="pixel" if T == 64 else "row", seed=seed)

    def make(B: int, g: torch.Generator) -> SequenceBatch:
        index = torch.randperm(len(train), generator=g)[:B]  # (B,) distinct scans
        return SequenceBatch(train.x[index], train.y[index])

    spec = TaskSpec("digits", T, train.x.shape[-1], 10, make, [SequenceBatch(valid.x, valid.y)],
                    "accuracy", 0.1, None)  # fmt: skip
    spec.train_size = len(train)
    spec.test["test_accuracy"] = [SequenceBatch(test.x, test.y)]
    return spec


def ntm_copy_spec(T: int, seed: int, valid_sequences: int) -> TaskSpec:
    """NTM copy: each batch one length L uniform in 1..T; tested again at 1.5T, 2T, 2.5T."""

    def make_at(L: int) -> Callable[[int, torch.Generator], SequenceBatch]:
        return lambda B, g: SequenceBatch(*ntm_copy(B, L, generator=g, bits=BITS))

    def make(B: int, g: torch.Generator) -> SequenceBatch:
        L = int(torch.randint(1, T + 1, (), generator=g))
        return make_at(L)(B, g)

    per_length = max(1, math.ceil(valid_sequences / T))
    valid = [
        fixed_batches(make_at(L), 1, per_length, seed=seed, first=L)[0] for L in range(1, T + 1)
    ]
    spec = TaskSpec("ntm-copy", T, BITS + 2, BITS, make, valid, "bit_error", 0.5, 0.01)
    for L in ntm_test_lengths(T):
        test = fixed_batches(make_at(L), 1, NTM_TEST_SEQUENCES, seed=seed, first=T + L)
        spec.test[f"bit_error@{L}"] = test
    return spec


def ntm_test_lengths(T: int) -> tuple[int, ...]:
    """NTM copy's longer test lengths: 1.5T, 2T, 2.5T (30, 40, 50 for T = 20)."""
    return tuple(int(f * T) for f in (1.5, 2.0, 2.5))


# -- one run ----------------------------------------------------------------------------


class SolvedWatch:
    """A Trainer callback (``on_eval_end``): the first validation past the solved threshold."""

    def __init__(self, metric: str, threshold: float | None, batch_size: int) -> None:
        self.metric, self.threshold, self.batch_size = metric, threshold, batch_size
        self.step: int | None = None  # the update of the first validation past the threshold

    def passed(self, value: float) -> bool:
        if self.threshold is None:
            return False
        return value > self.threshold if self.metric in MAXIMIZED else value < self.threshold

    def __call__(self, trainer: Any, record: dict[str, Any]) -> None:
        value = record.get(f"valid_{self.metric}")
        if self.step is None and value is not None and self.passed(value):
            self.step = record["step"]

    def replay(self, path: Path) -> None:
        """After a resume: read the validations ``metrics.jsonl`` kept."""
        if not path.is_file():
            return
        for line in path.read_text("utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == "valid":
                self(None, record)

    @property
    def sequences(self) -> int | None:
        """Training sequences seen when the threshold was first passed (None: not yet)."""
        return None if self.step is None else self.step * self.batch_size


class StateGradientLog:
    """A Trainer callback (``on_eval_end``): ‖∂L_T/∂h_t‖ for t = 1..T at every validation.

    Measured on the first ``STATE_GRADIENT_SEQUENCES`` validation sequences and written to
    ``metrics.jsonl`` as ``{"kind": "state_gradients", "step": ..., "norms": [t = 1..T]}``
    (``rnnkit plot state-gradients`` draws them). Tasks whose loss is read at the last step.
    """

    def __init__(self, model: LongRangeModel, batch: SequenceBatch) -> None:
        check_last_step_task(model.config.task)
        self.model = model
        self.x = model.features(batch.x[:STATE_GRADIENT_SEQUENCES]).transpose(0, 1)  # (T, B, D)
        self.y = batch.y[:STATE_GRADIENT_SEQUENCES]

    def __call__(self, trainer: Any, record: dict[str, Any]) -> None:
        losses = lambda h: self.model.last_step_losses(h, self.y)  # noqa: E731
        norms = state_gradient_norms(self.model.cell, self.x, losses)
        trainer.log.write({"kind": "state_gradients", "step": record["step"],
                           "norms": [float(v) for v in norms]})  # fmt: skip


@dataclass
class LongRangeReport:
    """One run's result (``as_dict`` is JSON); ``extra``: test accuracy, longer NTM lengths."""

    task: str
    cell: str
    T: int
    metric: str
    value: float  # of the best model on the validation set
    baseline: float
    threshold: float | None
    solved_after: int | None  # training sequences; None: not solved
    steps: int
    sequences: int
    minutes: float
    extra: dict[str, float] = field(default_factory=dict)
    note: str = ""  # e.g. why training stopped early

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def solved_text(self) -> str:
        if self.threshold is None:
            return "(no threshold)"
        return "not solved" if self.solved_after is None else f"{self.solved_after:,} sequences"

    def line(self) -> str:
        extra = "".join(f", {k} {v:.4f}" for k, v in self.extra.items())
        extra += f"; {self.note}" if self.note else ""
        return (f"{self.task} T={self.T} {self.cell}: valid {self.metric} {self.value:.4f} "
                f"(baseline {self.baseline:.4f}){extra}; solved: {self.solved_text()}; "
                f"{self.steps:,} updates, {self.sequences:,} sequences, "
                f"{self.minutes:.1f} min")  # fmt: skip


def build_model(spec: TaskSpec, cell: str, model_fields: dict[str, Any]) -> LongRangeModel:
    """The model for ``spec`` with ``cell`` and the given LongRangeConfig fields."""
    config = LongRangeConfig(spec.name, spec.input_size, spec.output_size, cell=cell,
                             **model_fields)  # fmt: skip
    return LongRangeModel(config)


def make_trainer(
    spec: TaskSpec,
    model: LongRangeModel,
    config: TrainConfig,
    out_dir: str | Path | None,
    *,
    progress: bool = True,
    state_gradients: bool = False,
) -> tuple[Trainer, SolvedWatch]:
    """The one Trainer on ``spec``'s fresh batches, watching for the solved threshold.

    ``state_gradients``: also log ‖∂L_T/∂h_t‖ at every validation (:class:`StateGradientLog`).
    """
    epoch = EPOCH_BATCHES if spec.train_size is None else spec.train_size // config.batch_size
    source = SyntheticBatches(spec.make, config.batch_size, seed=config.seed,
                              epoch_batches=max(1, epoch))  # fmt: skip
    watch = SolvedWatch(spec.metric, spec.threshold, config.batch_size)
    on_eval_end = [watch, StateGradientLog(model, spec.valid[0])] if state_gradients else [watch]
    trainer = Trainer(model, source, spec.valid, config, out_dir=out_dir, progress=progress,
                      callbacks={"on_eval_end": on_eval_end})  # fmt: skip
    return trainer, watch


def train_longrange(
    task: str,
    cell: str,
    T: int | None,
    model_fields: dict[str, Any],
    config: TrainConfig,
    out_dir: str | Path | None,
    *,
    valid_sequences: int = 1000,
    progress: bool = True,
    resume: bool = False,
    keep_going: bool = False,
    state_gradients: bool = False,
) -> LongRangeReport:
    """Train ``cell`` on ``task`` at length ``T`` (None: the task's); see :func:`train_run`.

    ``out_dir`` None keeps nothing on disk and reports the final model.
    """
    data = LongRangeTask(task, check_length(task, T), valid_sequences, state_gradients)
    run = Run(JOB, RunConfig(data, JOB.complete_model({"cell": cell, **model_fields}), config),
              Path(out_dir) if out_dir is not None else None, resumed=resume)  # fmt: skip
    return train_run(run, progress=progress, keep_going=keep_going)


def train_run(run: Run, *, progress: bool = True, keep_going: bool = False) -> LongRangeReport:
    """Train ``cell`` on ``task`` at length ``T``; report the best model (see the module doc).

    ``run.out`` None keeps nothing on disk and reports the final model; otherwise the best
    checkpoint, ``metrics.jsonl``, the resumable state and ``report.json`` go there.
    ``keep_going``: a NaN/Inf loss ends training but not the run (the report notes it); the
    update it would have made is never applied, so the model stays finite.
    The data's ``state_gradients``: log ‖∂L_T/∂h_t‖ at every validation (adding, digits).
    """
    data, config, out_dir = run.config.data, run.config.training, run.out
    model_fields = dict(run.config.model)
    cell = model_fields.pop("cell")
    check_cell_task(cell, data.task)
    spec = task_spec(data.task, data.T, seed=config.seed, valid_sequences=data.valid_sequences)
    torch.manual_seed(config.seed)
    model = build_model(spec, cell, model_fields)
    trainer, watch = make_trainer(spec, model, config, out_dir, progress=progress,
                                  state_gradients=data.state_gradients)  # fmt: skip
    if out_dir is not None and begin(trainer, run):
        watch.replay(Path(out_dir) / METRICS_NAME)
    note = ""
    try:
        trainer.fit()
    except NonFiniteError as e:
        if not keep_going:
            raise
        note = str(e).split(";")[0]
    saved = out_dir is not None and (Path(out_dir) / CONFIG_NAME).is_file()
    best = LongRangeModel.from_pretrained(out_dir) if saved else model
    report = score(best, spec, cell, trainer, watch)
    report.note = note
    if out_dir is not None:
        write_json(Path(out_dir) / REPORT_NAME, report.as_dict())
    return report


def score(
    model: LongRangeModel, spec: TaskSpec, cell: str, trainer: Trainer, watch: SolvedWatch
) -> LongRangeReport:
    """The report of a trained model: its validation metric and the task's extra scores."""
    valid = in_eval_mode(model, lambda: model.evaluate(spec.valid))
    extra = {}
    for name, batches in spec.test.items():
        extra[name] = in_eval_mode(model, lambda b=batches: model.evaluate(b))[spec.metric]
    return LongRangeReport(
        spec.name, cell, spec.T, spec.metric, valid[spec.metric], spec.baseline, spec.threshold,
        watch.sequences, trainer.step, trainer.step * trainer.config.batch_size,
        trainer.elapsed / 60, extra,
    )  # fmt: skip


# -- the reproduction table -------------------------------------------------------------
