"""Command-line options derived from the config dataclasses (see :mod:`rnnkit.options`).

A config field declared with :func:`rnnkit.options.option` becomes ``--the-field-name`` (or the
option's own ``flag``) with the field's help, type, range and choices; its default on the
command line is None, which means "not given": the preset's (or the config's) value stands.
:func:`config_overrides` reads back the fields the user gave.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any

from rnnkit.apps import runs
from rnnkit.apps.runs import Job, Preset, Run, RunConfig
from rnnkit.checks import check_text_encoding
from rnnkit.cli.common import UsageError, bounded, flag
from rnnkit.cli.outputs import check_training_out
from rnnkit.options import Option
from rnnkit.training.config import TrainConfig

BUDGET = ("max_minutes", "max_steps")  # one or the other; giving one drops the preset's
#: option -> (TrainConfig field, the values it needs; None: any): a hint when an option does nothing
NEEDS = {
    "momentum": ("optimizer", ("sgd", "nt-asgd")),
    "nt_asgd_window": ("optimizer", ("nt-asgd",)),
    "decay_every": ("schedule", ("step",)),
    "min_lr_ratio": ("schedule", ("cosine",)),
    "plateau_patience": ("schedule", ("plateau",)),
    "ss_k": ("scheduled_sampling", None),
    "ss_c": ("scheduled_sampling", ("linear",)),
}
#: TrainConfig fields that only a token stream (a language model) uses
STREAM_ONLY = ("bptt", "tbptt_k2", "random_bptt", "scheduled_sampling", "ss_k", "ss_c")
#: TrainConfig fields of truncated BPTT: a generator of whole sequences takes the rest
TBPTT_ONLY = ("bptt", "tbptt_k2", "random_bptt")
METAVARS = {int: "N", float: "X", str: "NAME"}


def encoding_type(text: str) -> str:
    """``--encoding-fallback``: ``none``, or a text encoding (checked now, not at the first
    file that is not UTF-8)."""
    if text == "none":
        return text
    try:
        return check_text_encoding("--encoding-fallback", text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--encoding-fallback: ")) from None


#: fields whose values the parser checks beyond their type
PARSERS = {"encoding_fallback": encoding_type}

#: an ArgumentParser, an argument group or a mutually exclusive group
ArgumentContainer = argparse._ActionsContainer


def cli_fields(config_cls: type) -> list[tuple[dataclasses.Field, Option]]:
    """The fields of ``config_cls`` the command line exposes, in declaration order."""
    fields = dataclasses.fields(config_cls)
    return [(field, field.metadata["cli"]) for field in fields if "cli" in field.metadata]


def option_string(field: dataclasses.Field, how: Option) -> str:
    """``--field-name``, or the option's own flag (``on_nonfinite`` -> ``--on-nan``)."""
    return how.flag or flag(field.name)


def option_dest(field: dataclasses.Field, how: Option) -> str:
    """The argparse destination: the option string as a name (``--on-nan`` -> ``on_nan``)."""
    return option_string(field, how).removeprefix("--").replace("-", "_")


def scalar_type(annotation: Any) -> type:
    """``int | None`` -> ``int``; a plain type stays itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"a command-line option needs one type, got {annotation}")
        return kinds[0]
    return annotation


def add_config_options(
    parser: ArgumentContainer,
    config_cls: type,
    *,
    skip: Collection[str] = (),
    only: Collection[str] | None = None,
) -> list[str]:
    """Add an option for each command-line field of ``config_cls`` to a parser or group.

    Args:
        parser: an ``ArgumentParser``, an argument group or a mutually exclusive group.
        config_cls: a dataclass whose fields carry :func:`rnnkit.options.option` metadata.
        skip: field names to leave out (a command that sets them itself).
        only: if given, add just these fields (e.g. into a mutually exclusive group).

    Returns:
        The names of the fields added.
    """
    hints = typing.get_type_hints(config_cls)
    added = []
    for field, how in cli_fields(config_cls):
        if field.name in skip or (only is not None and field.name not in only):
            continue
        kind = scalar_type(hints[field.name])
        settings: dict[str, Any] = {
            "dest": option_dest(field, how),
            "default": None,  # not given: the preset's value
            "help": how.help.replace("%", "%%"),
        }
        name = option_string(field, how)
        if kind is bool:  # a flag sets the field to the opposite of its default
            on = field.default is not True
            settings.update(action="store_const", const=on)
            if not on:
                name = "--no-" + name.removeprefix("--")
                settings["help"] = "turn off: " + settings["help"]
        elif how.choices is not None:
            settings.update(type=kind, choices=how.choices)
        else:
            parse = PARSERS.get(field.name, kind)
            if how.low is not None or how.high is not None:
                parse = bounded(kind, how.low, how.high, open_high=how.open_high)
            settings.update(type=parse, metavar=METAVARS.get(kind))
        parser.add_argument(name, **settings)
        added.append(field.name)
    return added


def config_overrides(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """``{field: value}`` for the command-line fields of ``config_cls`` the user gave.

    An option declared ``zero_is_none`` turns 0 into None (``--clip-norm 0``: clipping off).
    """
    given = {}
    for field, how in cli_fields(config_cls):
        value = getattr(args, option_dest(field, how), None)
        if value is None:
            continue
        given[field.name] = None if how.zero_is_none and value == 0 else value
    return given


def add_training_options(parser: argparse.ArgumentParser, *, skip: Collection[str] = ()) -> None:
    """The training engine's options (``TrainConfig``), the budget pair and ``--resume``."""
    engine = parser.add_argument_group(
        "training engine (default: the preset's; see docs/training.md)"
    )
    add_config_options(engine, TrainConfig, skip=(*skip, *BUDGET))
    add_config_options(engine.add_mutually_exclusive_group(), TrainConfig, only=BUDGET)
    engine.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR")
    parser.set_defaults(job_parser=parser)  # open_run: which options were given with --resume


def train_config(
    args: argparse.Namespace, preset: dict, *, metrics: tuple[str, ...]
) -> tuple[TrainConfig, list[str]]:
    """The preset's TrainConfig overridden by the options given, and notes for the user.

    ``metrics``: what the task's validation measures (``--monitor`` must name one of them).
    """
    given = config_overrides(args, TrainConfig)
    if given.get("monitor") not in (None, *metrics):
        raise UsageError(f"--monitor must be one of {', '.join(metrics)}, got {given['monitor']!r}")
    fields = {**preset, **given, "seed": args.seed}
    if any(name in given for name in BUDGET):  # the user's budget replaces the preset's
        fields["max_minutes"], fields["max_steps"] = (
            given.get("max_minutes"),
            given.get("max_steps"),
        )
    for name, (field, needed) in NEEDS.items():
        value = fields.get(field)
        allowed = needed or (value,)  # None: any value, as long as the field is set
        if getattr(args, name, None) is not None and (value is None or value not in allowed):
            values = f" {' or '.join(needed)}" if needed else ""
            raise UsageError(f"{flag(name)} needs {flag(field)}{values}")
    k2, bptt = fields.get("tbptt_k2"), fields.get("bptt", 100)
    if k2 is not None and k2 > bptt:
        raise UsageError(f"--tbptt-k2 must be in [1, --bptt={bptt}], got {k2}")
    notes = []
    warmup, steps = fields.get("warmup_steps", 0), given.get("max_steps")
    if "warmup_steps" not in given and steps is not None and steps <= warmup:
        fields["warmup_steps"] = steps // 10
        notes.append(
            f"note: --max-steps {steps} is shorter than the preset's {warmup} warm-up steps; "
            f"warm-up set to {steps // 10}"
        )
    try:
        return TrainConfig(**fields), notes
    except ValueError as e:
        raise UsageError(str(e)) from None


#: options every ``--resume`` takes: the budget and how the command shows its progress
RESUME_TAKES = ("resume", "max_steps", "max_minutes", "no_progress", "job_parser", "run", "help")


def open_run(
    args: argparse.Namespace,
    job: Job,
    *,
    preset: Preset | None = None,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    keep: Collection[str] = (),
    metrics: tuple[str, ...] | None = None,
    print_notes: bool = True,
) -> Run:
    """Start or resume ``job`` as the command line says (:mod:`rnnkit.apps.runs`).

    ``--resume DIR``: the run recorded in DIR; an option given besides the budget and
    ``keep`` (how the result is shown) is refused, since the run cannot honour it. Otherwise:
    ``preset`` (default: ``--preset``'s) overridden by the options of the job's dataclasses
    the user gave, then by ``data`` and ``model`` (what the command worked out itself);
    notes go to stderr (``print_notes`` False: the caller prints ``run.notes`` later).
    ``metrics``: what ``--monitor`` may name, when not the job's.
    """
    if args.resume is not None:
        refuse_with_resume(args, keep)
        return runs.resume(job, args.resume, max_steps=args.max_steps,
                           max_minutes=args.max_minutes)  # fmt: skip
    preset = preset if preset is not None else job.presets[args.preset]
    metrics = job.metrics if metrics is None else metrics
    training, notes = train_config(args, dict(preset.training), metrics=metrics)
    data_fields = {**preset.data, **config_overrides(args, job.data), **(data or {})}
    model_fields = {**preset.model, **config_overrides(args, job.model), **(model or {})}
    check_fractions(data_fields)
    check_training_out(args.out)
    try:
        config = RunConfig(job.data(**data_fields), model_fields, training)
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None
    run = runs.start(job, args.out, config, overwrite=args.overwrite)
    for note in notes if print_notes else ():
        print(note, file=sys.stderr)
    return dataclasses.replace(run, notes=tuple(notes))


def check_fractions(data: dict[str, Any]) -> None:
    """``--valid-fraction`` and ``--test-fraction`` must leave data to train on (each is
    checked alone by the parser; their sum only here, before any file is read)."""
    valid, test = data.get("valid_fraction"), data.get("test_fraction")
    if valid is not None and test is not None and valid + test >= 1.0:
        raise UsageError(f"--valid-fraction {valid:g} + --test-fraction {test:g} leave nothing "
                         "to train on; their sum must be < 1")  # fmt: skip


def refuse_with_resume(args: argparse.Namespace, keep: Collection[str] = ()) -> None:
    """A one-line error for the first option given with ``--resume`` that it does not take."""
    parser = args.job_parser
    for action in parser._actions:
        if action.dest in (*RESUME_TAKES, *keep) or not action.option_strings:
            continue
        if getattr(args, action.dest, action.default) != action.default:
            given = action.option_strings[0]
            allowed = ", ".join(flag(k) for k in (*BUDGET, *keep, "no_progress"))
            raise UsageError(f"--resume continues the run with its own options; drop {given} "
                             f"(allowed with --resume: {allowed})")  # fmt: skip


def vectors_width(args: argparse.Namespace, job: Job, field: str) -> dict[str, Any]:
    """``{field: D}``, the dimension of ``--word-vectors``' file, for the model's embedding
    ``field``, unless the user gave that option (a mismatch is then refused at load)."""
    path = getattr(args, "word_vectors", None)
    if path is None or args.resume is not None or field in config_overrides(args, job.model):
        return {}
    from rnnkit.data.word_vectors import peek_dimension

    return {field: peek_dimension(path)}
