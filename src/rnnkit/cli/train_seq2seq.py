"""``rnnkit train seq2seq``: train an encoder–decoder on source/target pairs (or CMUdict)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.apps.seq2seq import JOB, PRESETS
from rnnkit.cli.common import BEAM_MAX, UsageError, add_run_options, bounded, duration
from rnnkit.cli.options import (
    TBPTT_ONLY,
    add_config_options,
    add_training_options,
    open_run,
    vectors_width,
)

EPILOG = """examples:
  rnnkit train seq2seq --preset cmudict --out runs/g2p      # pronunciations from the CMU dictionary
  rnnkit train seq2seq --data pairs.tsv --source-tokens space --out runs/translate
  rnnkit train seq2seq --data pairs.tsv --valid-file dev.tsv --test-file test.tsv --beam 10
  rnnkit train seq2seq --resume runs/g2p --max-minutes 30   # continue a killed run exactly
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "seq2seq",
        help="train an encoder-decoder (attention, pointer) on source/target pairs",
        description="Train on a pairs file (source TAB target, one pair per line) or, with "
        "--preset cmudict and no --data, on the CMU Pronouncing Dictionary (grapheme to "
        "phoneme). The best checkpoint by validation exact-sequence accuracy is kept and the "
        "test split is reported with greedy decoding and with beam search.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:8s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, metavar="FILE", help="pairs: source<TAB>target per line")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--beam", type=bounded(int, 1, BEAM_MAX), default=5,
                   help="beam size of the test report")  # fmt: skip
    add_run_options(p, "runs/seq2seq")
    add_config_options(p.add_argument_group("data"), JOB.data)
    add_config_options(p.add_argument_group("model"), JOB.model, skip=JOB.sizes)
    add_training_options(p, skip=TBPTT_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.seq2seq import read_splits, train_pairs

    if args.resume is None and args.data is None and args.preset != "cmudict":
        raise UsageError("give --data FILE (source<TAB>target pairs) or --preset cmudict")
    path = None if args.data is None else str(args.data)
    width = vectors_width(args, JOB, "embedding_size")
    run_ = open_run(args, JOB, data={"path": path}, model=width, keep=("beam",))
    splits = read_splits(run_.config.data, run_.config.training.seed)
    print(f"pairs: {len(splits.train):,} train, {len(splits.valid):,} valid, "
          f"{len(splits.test):,} test", file=sys.stderr)  # fmt: skip
    say = print if not args.no_progress else (lambda line: print(line, file=sys.stderr))
    result = train_pairs(splits, run_, beam_size=args.beam, progress=not args.no_progress,
                         say=say)  # fmt: skip
    fitted = result.fitted
    print(f"best valid sequence accuracy {fitted.best_valid:.2%} after {fitted.steps} steps, "
          f"{duration(fitted.wall_seconds)}; checkpoint: {run_.out}")  # fmt: skip
    for report in result.reports:
        print(report.line())
    for source, output, reference in result.reports[-1].examples if result.reports else []:
        print(f"  {source} -> {output}   (reference: {reference})")
