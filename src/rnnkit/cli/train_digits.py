"""``rnnkit train digits``: read strings of handwritten digits (context to sequence)."""

from __future__ import annotations

import argparse

from rnnkit.apps.digits import JOB, PRESETS
from rnnkit.cli.common import add_run_options, duration
from rnnkit.cli.options import TBPTT_ONLY, add_config_options, add_training_options, open_run

EPILOG = """examples:
  rnnkit train digits --out runs/digits
  rnnkit train digits --attention general --max-minutes 8 --out runs/digits-att
  rnnkit train digits --resume runs/digits --max-minutes 10    # continue a killed run exactly
"""


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
        + "\n".join(f"  {n:8s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    add_run_options(p, "runs/digits")
    add_config_options(p.add_argument_group("images"), JOB.data)
    add_config_options(p.add_argument_group("model"), JOB.model, skip=JOB.sizes)
    add_training_options(p, skip=TBPTT_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.digits import train_digit_reader

    run_ = open_run(args, JOB)  # --resume: the images are regenerated from the recorded seed
    result = train_digit_reader(run_, progress=not args.no_progress)
    fitted = result.fitted
    print(f"best valid sequence accuracy {fitted.best_valid:.2%} after {fitted.steps} steps, "
          f"{duration(fitted.wall_seconds)}; checkpoint: {run_.out}")  # fmt: skip
    print(f"test images: sequence accuracy {result.sequence_accuracy:.2%}, character "
          f"accuracy {result.character_accuracy:.2%}")  # fmt: skip
