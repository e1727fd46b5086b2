"""``rnnkit train frames``: predict moving digits — ConvLSTM, ConvGRU and FC-LSTM compared."""

from __future__ import annotations

import argparse
import sys

from rnnkit.apps.frames import JOB, MODELS, PRESETS
from rnnkit.cli.common import UsageError, add_run_options, model_names
from rnnkit.cli.options import TBPTT_ONLY, add_config_options, add_training_options, open_run

EPILOG = """examples:
  rnnkit train frames --out runs/frames                   # convlstm and fc-lstm, 6 minutes each
  rnnkit train frames --models convlstm,convgru,fc-lstm --max-minutes 4
  rnnkit train frames --models convlstm --hidden-channels 64 --kernel-size 5

Writes OUT/<model> per model, OUT/report.json, and OUT/frames.png (a test sequence: the
observed frames, the truth, each model's prediction) and OUT/frames.gif when matplotlib and
Pillow are installed (pip install "rnnkit[plot]").
"""
DEFAULT_MODELS = "convlstm,fc-lstm"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "frames",
        help="train frame predictors (ConvLSTM, ConvGRU, FC-LSTM) on moving digits",
        description="Generate sequences of two handwritten digits bouncing in a 48x48 canvas "
        "(disjoint scans for training and test), train each chosen model to predict the next "
        "10 frames from 10 (each into OUT/<model>), and report per-frame MSE beside the "
        "copy-last-frame and mean-frame baselines. Training sequences are regenerated from "
        "--seed, so a killed run is started again rather than resumed.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:8s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help=f"comma-separated, from {', '.join(MODELS)} (default: "
                   f"{DEFAULT_MODELS})")  # fmt: skip
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    add_run_options(p, "runs/frames")
    add_config_options(p.add_argument_group("sequences"), JOB.data)
    add_config_options(p.add_argument_group("model"), JOB.model, skip=(*JOB.sizes, "model"))
    add_training_options(p, skip=TBPTT_ONLY)
    p.set_defaults(run=run, resumable=False)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.frames import model_runs, train_frames
    from rnnkit.viz.frames import write_pictures

    if args.resume is not None:
        raise UsageError("--resume: `train frames` regenerates its sequences; start it again")
    models = model_names(args.models, MODELS)
    runs = model_runs(models, open_run(args, JOB), overwrite=args.overwrite)
    say = print if not args.no_progress else (lambda line: print(line, file=sys.stderr))
    result = train_frames(runs, args.out, progress=not args.no_progress, say=say)
    print(result.table())
    for name, steps in result.steps.items():
        print(f"{name}: {steps} steps; checkpoint: {args.out / name}")
    written = write_pictures(result, args.out)
    print("pictures: " + (", ".join(map(str, written)) if written else
                          'none (pip install "rnnkit[plot]")'))  # fmt: skip
