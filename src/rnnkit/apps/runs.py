"""The run lifecycle, once: start or resume any job, and own its ``run.json``.

A job declares what it is with a :class:`Job`: its data dataclass (files, reading options,
generated-task options), its task model's config dataclass (whose sizes come from the data),
its named :class:`Preset`\\ s and the metrics its validation reports. One run's settings are a
:class:`RunConfig` (data, model, training); the lifecycle is three calls::

    run = start(JOB, out, config, overwrite=False)    # a fresh run: OUT checked, config checked
    run = resume(JOB, out, max_steps=..., ...)        # --resume OUT: run.json read and validated
    ...                                               # the job reads its data, builds the model
    begin(trainer, run)                               # resume the trainer, or write run.json

``OUT/trainer_state/run.json`` holds ``{"format": "rnnkit.<job>_run/2", "data": {...},
"model": {...}, "training": {...}}``. Reading it back validates every field against the
dataclasses (type, range, choices, then the dataclass's own checks): an edited or damaged
record is one :class:`~rnnkit.errors.CheckpointError` line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.tasks.fields import FieldError, check_fields
from rnnkit.tasks.pretrained import CONFIG_NAME, WEIGHTS_NAME, load_config
from rnnkit.training import checkpoint
from rnnkit.training.config import TrainConfig
from rnnkit.training.metrics_log import METRICS_NAME

__all__ = [
    "BUDGET",
    "ConfigError",
    "Job",
    "Preset",
    "Run",
    "RunConfig",
    "begin",
    "check_fields",
    "check_out_free",
    "load_record",
    "resume",
    "save_record",
    "start",
]

VERSION = 2  # of run.json's layout: data, model, training
BUDGET = ("max_steps", "max_minutes")  # the only training fields a resumed run may change
#: fields added since layout 2 began: a record without them takes their defaults
ADDED_TRAINING = ("save_every_minutes", "cut_frac", "slanted_ratio", "discriminative_lr",
                  "unfreeze_every")  # fmt: skip
ADDED_DATA = ("raml_tau", "word_vectors", "freeze_word_vectors", "encoder",
              "lm_finetune_minutes", "tunes", "reverse", "char_lm_forward",
              "char_lm_backward", "data_path", "valid_file", "test_file", "valid_fraction",
              "test_fraction", "alphabet", "split_seed")  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """A named starting point: fields of each section, checked against the job's dataclasses
    (:meth:`Job.check_presets`), and the one line ``--help`` shows."""

    description: str
    data: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """One run's settings: what ``run.json`` records and ``--resume`` reads back.

    ``model`` holds the task config's fields but its sizes (vocabularies, inputs), which the
    job takes from the data: :meth:`Job.model_config` joins them.
    """

    data: Any  # an instance of the job's data dataclass
    model: Mapping[str, Any]
    training: TrainConfig

    def as_record(self) -> dict[str, Any]:
        model = {k: list(v) if isinstance(v, tuple) else v for k, v in self.model.items()}
        data = dataclasses.asdict(self.data)
        return {"data": data, "model": model, "training": dataclasses.asdict(self.training)}


@dataclass(frozen=True)
class Job:
    """What the lifecycle knows of a job (``rnnkit train <name>``)."""

    name: str  # the command; run.json's format is ``rnnkit.<name>_run/2``
    data: type  # frozen dataclass: where the examples come from (files as absolute paths)
    model: type  # the task's config dataclass
    sizes: tuple[str, ...] = ()  # model fields the job sets from the data (not recorded)
    presets: Mapping[str, Preset] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()  # what validation measures: ``--monitor`` names one
    files: tuple[str, ...] = ()  # data fields that name files: recorded as absolute paths
    #: model sizes that let the model config check the other fields' combinations before any
    #: data is read (None: only each field's type, range and choices are checked then)
    probe: tuple[Any, ...] | None = None
    #: further checks of a whole config (ValueError: the combination cannot run)
    check: Callable[[RunConfig], None] | None = None

    def model_config(self, config: RunConfig, *sizes: Any, **named: Any) -> Any:
        """The task's config: the data's ``sizes`` and the run's model fields."""
        try:
            return self.model(*sizes, **named, **config.model)
        except (TypeError, ValueError) as e:
            raise ConfigError(str(e)) from None

    def complete_model(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``fields`` with every other model field at its default (sizes left out), so that
        run.json records the whole architecture, not only what differed from the defaults."""
        complete = {}
        for f in dataclasses.fields(self.model):
            if not f.init or f.name in self.sizes:
                continue
            if f.name in fields:
                complete[f.name] = fields[f.name]
            elif f.default is not dataclasses.MISSING:
                complete[f.name] = f.default
        if unknown := sorted(set(fields) - set(complete)):
            valid = ", ".join(complete)
            raise ConfigError(f"{unknown[0]!r} is not a model option (valid: {valid})")
        return complete

    def absolute_files(self, data: Any) -> Any:
        """``data`` with the fields naming files made absolute (``--resume`` from anywhere)."""
        named = {name: getattr(data, name) for name in self.files}
        paths = {k: str(Path(v).resolve()) for k, v in named.items() if v is not None}
        return dataclasses.replace(data, **paths)

    def validate(self, config: RunConfig) -> None:
        """Every check that can run before the data is read (ValueError names the problem)."""
        if self.probe is not None:
            self.model(*self.probe, **config.model)
        if self.check is not None:
            self.check(config)

    def check_presets(self) -> None:
        """Each preset's fields are fields of the job's dataclasses, with valid values."""
        for name, preset in self.presets.items():
            where = f"preset {name!r}"
            check_fields(self.data, preset.data, where=f"{where} data", partial=True)
            check_fields(self.model, preset.model, where=f"{where} model", skip=self.sizes,
                         partial=True, construct=False)  # fmt: skip
            check_fields(TrainConfig, preset.training, where=f"{where} training", partial=True)


@dataclass(frozen=True)
class Run:
    """A run about to train: the job, its settings, its directory, and whether it resumes."""

    job: Job
    config: RunConfig
    out: Path
    resumed: bool = False
    notes: tuple[str, ...] = ()  # what the user should know about the settings (to stderr)


# -- starting and resuming ------------------------------------------------------------------


def check_out_free(out: Path, *, overwrite: bool) -> None:
    """Refuse to start a fresh run over a checkpoint, unless ``overwrite``."""
    taken = (out / "config.json").exists() or (out / checkpoint.STATE_DIR).exists()
    if taken and not overwrite:
        raise ConfigError(
            f"{out} already holds a checkpoint; pass --overwrite, --resume {out} or another --out"
        )


def start(job: Job, out: str | Path, config: RunConfig, *, overwrite: bool = False) -> Run:
    """A fresh run of ``job`` into ``out``: the settings checked, ``out`` free (or
    ``overwrite``). Nothing is written yet: :func:`begin` records the run once it trains."""
    model = job.complete_model(config.model)
    config = dataclasses.replace(config, data=job.absolute_files(config.data), model=model)
    try:
        job.validate(config)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None
    check_out_free(Path(out), overwrite=overwrite)
    return Run(job, config, Path(out))


def resume(
    job: Job, out: str | Path, *, max_steps: int | None = None, max_minutes: float | None = None
) -> Run:
    """The run recorded in ``out`` (its ``run.json``, validated), with a new budget if given."""
    config = load_record(out, job)
    check_saved_model(Path(out), config)
    if max_steps is not None or max_minutes is not None:
        training = dataclasses.replace(config.training, max_steps=max_steps,
                                       max_minutes=max_minutes)  # fmt: skip
        config = dataclasses.replace(config, training=training)
    return Run(job, config, Path(out), resumed=True)


def check_saved_model(out: Path, config: RunConfig) -> None:
    """``run.json``'s architecture against the newest saved model's ``config.json``, before the
    job builds a model from it: an edited size would be allocated (gigabytes, maybe) before
    the trainer state could refuse it."""
    found = checkpoint.step_dirs(out)
    if not found:
        return
    saved = load_config(found[-1]).get("model")
    if not isinstance(saved, dict):
        return  # the model's own load names what is wrong with it
    for name, value in config.model.items():
        recorded = json.loads(json.dumps(value))  # tuples as the lists JSON has
        if name in saved and saved[name] != recorded:
            run_json = out / checkpoint.STATE_DIR / checkpoint.RUN_NAME
            raise CheckpointError(
                f"{run_json}: field model.{name}: {recorded!r:.40}, but the saved model "
                f"{found[-1] / CONFIG_NAME} has {saved[name]!r:.40}"
            )


def begin(trainer: Any, run: Run) -> int:
    """The lifecycle's one fork, once the job has built its Trainer: a resumed run continues
    from the newest trainer state (or says it starts over, when there is none); a fresh run
    writes ``run.json``. Returns the step training continues from (0: from the start)."""
    if not run.resumed:
        if trainer.workers.is_main:
            clear_old_run(run.out)
            save_record(run.out, run.job, run.config)
        return 0
    if not checkpoint.step_dirs(run.out):
        if trainer.workers.is_main:
            print(f"note: {run.out}: no resumable state; starting over", file=sys.stderr)
        return 0
    return trainer.resume()


def clear_old_run(out: Path) -> None:
    """Remove what an earlier run left in ``out`` before a fresh one writes anything there
    (:func:`start` let it only with ``overwrite``): its resumable states first, so none is
    resumed under the new ``run.json``; then its model, ``config.json`` before the weights (the
    directory stops being a model at once) and its metrics. An interrupt from here on never
    leaves the old model beside the new run's files."""
    checkpoint.clear_states(out)
    for name in (CONFIG_NAME, WEIGHTS_NAME, METRICS_NAME):
        (out / name).unlink(missing_ok=True)


# -- run.json -------------------------------------------------------------------------------


def record_format(job: Job) -> str:
    return f"rnnkit.{job.name}_run/{VERSION}"


def save_record(out: str | Path, job: Job, config: RunConfig) -> Path:
    """Write ``OUT/trainer_state/run.json``: how the run started, so ``--resume`` needs nothing
    else."""
    return checkpoint.save_run_record(out, job.name, config.as_record(), version=VERSION)


def load_record(out: str | Path, job: Job) -> RunConfig:
    """Read ``run.json`` back into a :class:`RunConfig`, every field validated (one-line
    :class:`CheckpointError` naming the file and the field)."""
    path = Path(out) / checkpoint.STATE_DIR / checkpoint.RUN_NAME
    record = checkpoint.load_run_record(out, job.name, version=VERSION)
    try:
        config = config_from_record(job, record)
    except FieldError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return config


def with_added(cls: type, given: Any, added: tuple[str, ...]) -> Any:
    """A section with the ``added`` fields it lacks at their defaults: a run started before a
    field existed can still resume."""
    if not isinstance(given, Mapping):
        return given  # check_fields says what is wrong
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in added}
    return {**defaults, **given}


def config_from_record(job: Job, record: dict[str, Any]) -> RunConfig:
    """The record's sections as a checked :class:`RunConfig` (:class:`FieldError` if not)."""
    unknown = sorted(set(record) - {"format", "data", "model", "training"})
    if unknown:
        raise FieldError(f"field {unknown[0]!r}: unknown (valid: data, model, training)")
    data = job.data(**check_fields(job.data, with_added(job.data, record.get("data"), ADDED_DATA),
                                   where="data"))  # fmt: skip
    model = check_fields(job.model, record.get("model"), where="model", skip=job.sizes,
                         construct=False)  # fmt: skip
    given = with_added(TrainConfig, record.get("training"), ADDED_TRAINING)
    training = TrainConfig(**check_fields(TrainConfig, given, where="training"))
    config = RunConfig(data, model, training)
    try:
        job.validate(config)
    except (TypeError, ValueError) as e:
        raise FieldError(f"field model: {e}") from None
    return config
