"""``rnnkit train classify``: train a sequence classifier on labelled texts and report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.apps.classify import JOB, PRESETS
from rnnkit.cli.common import UsageError, add_run_options, duration, process_group
from rnnkit.cli.options import (
    STREAM_ONLY,
    add_config_options,
    add_training_options,
    config_overrides,
    open_run,
    vectors_width,
)

EPILOG = """examples:
  rnnkit train classify --data ../shared/data/spamassassin       # raw email, a folder per label
  rnnkit train classify --preset sms-spam --data SMSSpamCollection --out runs/spam
  rnnkit train classify --data reviews.csv --text-column review --label-column stars
  rnnkit train classify --data enron/ --format folders --pooling attention --balance weights
  rnnkit train classify --resume runs/spam --max-minutes 10   # continue a killed run exactly

With no --preset, the length cap, truncation and vocabulary come from the training split
(printed as the plan before training, with the epochs the budget covers).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="train a sequence classifier (e.g. spam) on labelled texts",
        description="Train a recurrent sequence classifier; report the test split beside "
        "TF-IDF + linear baselines.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:9s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, help="TSV/CSV/JSONL file, or a folder per label")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    add_run_options(p, "runs/classify")
    add_config_options(p.add_argument_group("data"), JOB.data)
    add_config_options(p.add_argument_group("model"), JOB.model, skip=JOB.sizes)
    add_training_options(p, skip=STREAM_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.classify import train_classifier

    if args.resume is None and args.data is None:
        raise UsageError("--data is required (a labelled file or folder)")
    data = {"data_path": str(args.data)} if args.data else {}
    model = vectors_width(args, JOB, "embedding_size")
    if args.encoder is not None and args.resume is None:
        model, data["tokenizer"] = encoder_options(args)
    run_ = open_run(args, JOB, data=data, model=model)
    say = print if not args.no_progress else (lambda line: print(line, file=sys.stderr))
    with process_group() as workers:  # torchrun: data parallel
        result = train_classifier(run_, progress=not args.no_progress, say=say)
    if not workers.is_main:
        return
    print(result.text())
    print(f"\n{result.steps} steps ({result.epochs:.1f} epochs) in "
          f"{duration(result.wall_seconds)}; checkpoint: {run_.out}")  # fmt: skip


def encoder_options(args: argparse.Namespace) -> tuple[dict, str]:
    """The model fields and tokenizer ``--encoder``'s language model fixes; refuses options
    that contradict them (one line)."""
    from rnnkit.tasks.transfer import encoder_fields

    if args.word_vectors is not None:
        raise UsageError("give --encoder or --word-vectors, not both: the encoder brings its "
                         "own embedding")  # fmt: skip
    fields, tokenizer = encoder_fields(args.encoder)
    given = config_overrides(args, JOB.model)
    for name, value in fields.items():
        if name in given and given[name] != value:
            raise UsageError(f"--{name.replace('_', '-')} {given[name]}: --encoder "
                             f"{args.encoder} fixes it at {value}")  # fmt: skip
    if args.tokenizer is not None and args.tokenizer != tokenizer:
        raise UsageError(f"--tokenizer {args.tokenizer}: --encoder {args.encoder} is a "
                         f"{tokenizer}-level language model")  # fmt: skip
    return fields, tokenizer
