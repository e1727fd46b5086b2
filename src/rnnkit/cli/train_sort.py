"""``rnnkit train sort``: the number sorter — plain, attention and pointer models compared."""

from __future__ import annotations

import argparse
import sys

from rnnkit.apps.sort import JOB, MODELS, PRESETS, report_table
from rnnkit.cli.common import UsageError, add_run_options, duration, model_names
from rnnkit.cli.options import TBPTT_ONLY, add_config_options, add_training_options, open_run

EPILOG = """examples:
  rnnkit train sort --out runs/sort                      # all three models, 5 minutes each
  rnnkit train sort --models pointer --max-minutes 8 --out runs/sort-pointer
  rnnkit train sort --low 0 --high 999 --max-length 8 --report-length 16
"""
#: set by the job (vocabularies) or by --models (what each model is)
MODEL_FIELDS = (*JOB.sizes, "attention", "output", "pointer_once")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sort",
        help="train number sorters (plain, attention, pointer) and compare them per length",
        description="Generate seeded lists of integers, train each chosen encoder-decoder on "
        "them (each into OUT/<model>), and report exact-sequence accuracy, token accuracy and "
        "the permutation rate per length on fresh lists, lengths beyond the training ones "
        "included. The training lists are regenerated from --seed, so a killed run is "
        "restarted rather than resumed.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:8s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated, from {', '.join(MODELS)} (default: all)")  # fmt: skip
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    add_run_options(p, "runs/sort")
    add_config_options(p.add_argument_group("lists"), JOB.data)
    add_config_options(p.add_argument_group("model"), JOB.model, skip=MODEL_FIELDS)
    add_training_options(p, skip=TBPTT_ONLY)
    p.set_defaults(run=run, resumable=False)  # an interrupt does not offer --resume


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.sort import sorter_runs, train_sorters

    if args.resume is not None:
        raise UsageError("--resume: `train sort` regenerates its lists; start it again instead")
    models = model_names(args.models, MODELS)
    runs = sorter_runs(models, open_run(args, JOB), overwrite=args.overwrite)
    say = print if not args.no_progress else (lambda line: print(line, file=sys.stderr))
    run_ = train_sorters(runs, args.out, progress=not args.no_progress, say=say)
    for name, fitted in run_.fitted.items():
        print(f"{name}: best valid sequence accuracy {fitted.best_valid:.2%} after "
              f"{fitted.steps} steps, {duration(fitted.wall_seconds)}")  # fmt: skip
    print(report_table(run_.results, runs[models[0]].config.data.max_length))
    print(f"best on validation: {run_.best}; `rnnkit sort --checkpoint {args.out} 5 3 9 1`")
