"""``rnnkit train classify``: train a sequence classifier on labelled texts and report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.apps.classify import PRESETS, ClassifyData, load_run
from rnnkit.cli.common import UsageError, add_run_options, check_out_free, process_group
from rnnkit.cli.options import (
    STREAM_ONLY,
    add_config_options,
    add_training_options,
    config_overrides,
    resumed_budget,
    run_record,
    train_config,
)
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.training.config import TrainConfig

EPILOG = """examples:
  rnnkit train classify --preset sms-spam --data SMSSpamCollection --out runs/spam
  rnnkit train classify --data reviews.csv --text-column review --label-column stars --bidirectional
  rnnkit train classify --data enron/ --format folders --pooling attention --balance weights
  rnnkit train classify --resume runs/spam --max-minutes 10   # continue a killed run exactly
"""
MODEL_FIELDS = ("vocab_size", "num_classes", "class_weights")  # set by the job, not the user


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="train a sequence classifier (e.g. spam) on labelled texts",
        description="Train a recurrent sequence classifier; report the test split beside "
        "TF-IDF + linear baselines.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:9s} {d}" for n, (_, _, _, d) in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, help="TSV/CSV/JSONL file, or a folder per label")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    add_run_options(p, "runs/classify")
    add_config_options(p.add_argument_group("data"), ClassifyData)
    add_config_options(p.add_argument_group("model"), ClassifierConfig, skip=MODEL_FIELDS)
    add_training_options(p, skip=STREAM_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.classify import train_classifier

    if args.resume is not None:
        data_path, data, model_fields, config = resumed(args)
        out = args.resume
    else:
        data_path, data, model_fields, config = configured(args)
        out = args.out
        check_out_free(out, overwrite=args.overwrite)
    with process_group() as workers:  # torchrun: data parallel
        result = train_classifier(
            data_path,
            data,
            model_fields,
            config,
            out,
            progress=not args.no_progress,
            resume=args.resume is not None,
        )
    if not workers.is_main:
        return
    print(result.text())
    print(f"\n{result.steps} steps in {result.wall_seconds / 60:.1f} min; checkpoint: {out}")


def configured(args: argparse.Namespace) -> tuple[Path, ClassifyData, dict, TrainConfig]:
    """The preset's settings overridden by the options given."""
    if args.data is None:
        raise UsageError("--data is required (a labelled file or folder)")
    data_fields, model_fields, train_fields, _ = PRESETS[args.preset]
    config, notes = train_config(args, train_fields, metrics=SequenceClassifier.METRICS)
    for note in notes:
        print(note, file=sys.stderr)
    try:
        data = ClassifyData(**{**data_fields, **config_overrides(args, ClassifyData)})
        model_fields = {**model_fields, **config_overrides(args, ClassifierConfig)}
        ClassifierConfig(2, 2, **model_fields)  # bad combinations fail before any reading
    except ValueError as e:
        raise UsageError(str(e)) from None
    return args.data, data, model_fields, config


def resumed(args: argparse.Namespace) -> tuple[Path, ClassifyData, dict, TrainConfig]:
    """The run's own settings from DIR/trainer_state/run.json; only the budget may change."""
    data_path, data, model_fields, train = load_run(args.resume)
    with run_record(args.resume):
        ClassifierConfig(2, 2, **model_fields)
        return data_path, data, model_fields, TrainConfig(**resumed_budget(args, train))
