"""``rnnkit train digits``: read strings of handwritten digits (context to sequence)."""

from __future__ import annotations

import argparse

from rnnkit.apps.digits import PRESETS, DigitTask
from rnnkit.cli.common import UsageError, add_run_options, check_out_free
from rnnkit.cli.options import (
    TBPTT_ONLY,
    add_config_options,
    add_training_options,
    config_overrides,
    preset_configs,
    resumed_budget,
    run_record,
)
from rnnkit.tasks.context_to_sequence import ContextConfig, ContextToSequence
from rnnkit.training.checkpoint import load_run_record
from rnnkit.training.config import TrainConfig

EPILOG = """examples:
  rnnkit train digits --out runs/digits
  rnnkit train digits --attention general --max-minutes 8 --out runs/digits-att
  rnnkit train digits --resume runs/digits --max-minutes 10    # continue a killed run exactly
"""
#: set by the job
MODEL_FIELDS = ("target_vocab_size", "image_height", "image_width")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "digits",
        help="train a CNN -> RNN reader of handwritten digit strings (scikit-learn's scans)",
        description="Images of 3-6 digits are made by placing scikit-learn's scanned 8x8 "
        "digits side by side (training, validation and test images from disjoint scans); a "
        "small CNN gives a context vector that starts an RNN decoder, which writes the "
        "digits. Reports sequence and character accuracy on the test images.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:8s} {d}" for n, (_, _, d) in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    add_run_options(p, "runs/digits")
    add_config_options(p.add_argument_group("images"), DigitTask)
    add_config_options(p.add_argument_group("model"), ContextConfig, skip=MODEL_FIELDS)
    add_training_options(p, skip=TBPTT_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.digits import train_digit_reader

    if args.resume is not None:  # the images are regenerated from the recorded seed
        record = load_run_record(args.resume, "digits")
        with run_record(args.resume):
            task, model_fields = DigitTask(**record["task"]), record["model"]
            config = TrainConfig(**resumed_budget(args, record["training"]))
            ContextConfig(14, **model_fields)
        out = args.resume
    else:
        config, model_fields = preset_configs(args, PRESETS[args.preset], ContextConfig,
                                              metrics=ContextToSequence.METRICS)
        try:
            task = DigitTask(**config_overrides(args, DigitTask))
            ContextConfig(14, **model_fields)
        except ValueError as e:
            raise UsageError(str(e)) from None
        out = args.out
        check_out_free(out, overwrite=args.overwrite)
    result = train_digit_reader(task, model_fields, config, out, progress=not args.no_progress,
                                resume=args.resume is not None)  # fmt: skip
    fitted = result.fitted
    print(f"best valid sequence accuracy {fitted.best_valid:.2%} after {fitted.steps} steps, "
          f"{fitted.wall_seconds / 60:.1f} min; checkpoint: {out}")  # fmt: skip
    print(f"test images: sequence accuracy {result.sequence_accuracy:.2%}, character "
          f"accuracy {result.character_accuracy:.2%}")  # fmt: skip
