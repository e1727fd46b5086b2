"""``rnnkit train tag``: train a part-of-speech (or any column) tagger on CoNLL-U files."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.apps.tag import PRESETS, TAG_COLUMNS
from rnnkit.cli.common import UsageError, add_run_options, check_out_free, process_group
from rnnkit.cli.options import (
    STREAM_ONLY,
    add_config_options,
    add_training_options,
    preset_configs,
    resumed_budget,
    run_record,
)
from rnnkit.tasks.tagger import Tagger, TaggerConfig
from rnnkit.training.checkpoint import load_run_record
from rnnkit.training.config import TrainConfig

EPILOG = """examples:
  rnnkit train tag --preset ud-ewt --train en_ewt-ud-train.conllu --dev en_ewt-ud-dev.conllu \\
      --test en_ewt-ud-test.conllu --out runs/pos
  rnnkit train tag --train t.conllu --dev d.conllu --column XPOS --crf --out runs/xpos
  rnnkit train tag --resume runs/pos --max-minutes 30     # continue a killed run exactly
"""
MODEL_FIELDS = ("word_vocab_size", "char_vocab_size", "num_tags")  # set by the job


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tag",
        help="train a sequence tagger (e.g. part of speech) on CoNLL-U files",
        description="Train a word + character BiRNN tagger (softmax or CRF output); the best "
        "checkpoint by dev accuracy is kept and reported on --test.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:7s} {d}" for n, (_, _, d) in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--train", type=Path, metavar="FILE", help="CoNLL-U training sentences")
    p.add_argument("--dev", type=Path, metavar="FILE", help="CoNLL-U sentences to choose on")
    p.add_argument("--test", type=Path, metavar="FILE", help="CoNLL-U sentences to report on")
    p.add_argument("--column", choices=TAG_COLUMNS, default="UPOS", help="the column to predict")
    p.add_argument("--preset", choices=sorted(PRESETS), default="ud-ewt")
    add_run_options(p, "runs/tag")
    add_config_options(p.add_argument_group("model"), TaggerConfig, skip=MODEL_FIELDS)
    add_training_options(p, skip=STREAM_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.tag import train_tagger

    if args.resume is not None:
        record = load_run_record(args.resume, "tag")
        with run_record(args.resume):
            train_path, dev_path, test_path = (p and Path(p) for p in record["paths"])
            config = TrainConfig(**resumed_budget(args, record["training"]))
            column, model_fields, out = record["column"], record["model"], args.resume
            TaggerConfig(2, 2, 2, **model_fields)
    else:
        if args.train is None or args.dev is None:
            raise UsageError("--train and --dev are required (CoNLL-U files)")
        config, model_fields = preset_configs(args, PRESETS[args.preset], TaggerConfig,
                                              metrics=Tagger.METRICS)
        try:
            TaggerConfig(2, 2, 2, **model_fields)  # bad combinations fail before any reading
        except ValueError as e:
            raise UsageError(str(e)) from None
        train_path, dev_path, test_path, column, out = (
            args.train, args.dev, args.test, args.column, args.out,
        )  # fmt: skip
        check_out_free(out, overwrite=args.overwrite)
    with process_group() as workers:  # torchrun: data parallel
        result = train_tagger(
            train_path, dev_path, test_path, model_fields, config, out, column=column,
            progress=not args.no_progress, resume=args.resume is not None,
        )  # fmt: skip
    if not workers.is_main:
        return
    print(
        f"best dev accuracy {result.best_dev_accuracy:.2%} after {result.steps} steps, "
        f"{result.wall_seconds / 60:.1f} min; checkpoint: {out}"
    )
    if result.test is not None:
        print(f"--- test: {test_path} ---")
        print(result.test.text())
