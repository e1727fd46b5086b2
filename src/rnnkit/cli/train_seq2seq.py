"""``rnnkit train seq2seq``: train an encoder–decoder on source/target pairs (or CMUdict)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from rnnkit.apps.seq2seq import PRESETS, PairData
from rnnkit.cli.common import BEAM_MAX, UsageError, add_run_options, bounded, check_out_free
from rnnkit.cli.options import (
    TBPTT_ONLY,
    add_config_options,
    add_training_options,
    config_overrides,
    preset_configs,
    resumed_budget,
    run_record,
)
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.training.checkpoint import load_run_record
from rnnkit.training.config import TrainConfig

EPILOG = """examples:
  rnnkit train seq2seq --preset cmudict --out runs/g2p      # pronunciations from the CMU dictionary
  rnnkit train seq2seq --data pairs.tsv --source-tokens space --out runs/translate
  rnnkit train seq2seq --data pairs.tsv --valid-file dev.tsv --test-file test.tsv --beam 10
  rnnkit train seq2seq --resume runs/g2p --max-minutes 30   # continue a killed run exactly
"""
MODEL_FIELDS = ("source_vocab_size", "target_vocab_size")  # set by the job


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
        + "\n".join(f"  {n:8s} {d}" for n, (_, _, d) in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, metavar="FILE", help="pairs: source<TAB>target per line")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--beam", type=bounded(int, 1, BEAM_MAX), default=5,
                   help="beam size of the test report")  # fmt: skip
    add_run_options(p, "runs/seq2seq")
    add_config_options(p.add_argument_group("data"), PairData)
    add_config_options(p.add_argument_group("model"), Seq2SeqConfig, skip=MODEL_FIELDS)
    add_training_options(p, skip=TBPTT_ONLY)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.seq2seq import read_splits, train_pairs

    if args.resume is not None:
        record = load_run_record(args.resume, "seq2seq")
        with run_record(args.resume):
            data_path, data = record["data"], PairData(**record["reading"])
            data_path = None if data_path is None else str(Path(data_path))
            config = TrainConfig(**resumed_budget(args, record["training"]))
            model_fields, out = record["model"], args.resume
            Seq2SeqConfig(5, 5, **model_fields)
    else:
        if args.data is None and args.preset != "cmudict":
            raise UsageError("give --data FILE (source<TAB>target pairs) or --preset cmudict")
        config, model_fields = preset_configs(args, PRESETS[args.preset], Seq2SeqConfig,
                                              metrics=Seq2Seq.METRICS)
        try:
            Seq2SeqConfig(5, 5, **model_fields)  # bad combinations fail before any reading
            data = PairData(**config_overrides(args, PairData))
        except ValueError as e:
            raise UsageError(str(e)) from None
        data_path = None if args.data is None else str(args.data.resolve())
        out = args.out
        check_out_free(out, overwrite=args.overwrite)
    splits = read_splits(data_path, data, config.seed)
    print(f"pairs: {len(splits.train):,} train, {len(splits.valid):,} valid, "
          f"{len(splits.test):,} test", file=sys.stderr)  # fmt: skip
    record = {"data": data_path, "reading": asdict(data), "model": model_fields}
    result = train_pairs(splits, model_fields, config, out, data=data, record=record,
                         beam_size=args.beam, progress=not args.no_progress,
                         resume=args.resume is not None)  # fmt: skip
    fitted = result.fitted
    print(f"best valid sequence accuracy {fitted.best_valid:.2%} after {fitted.steps} steps, "
          f"{fitted.wall_seconds / 60:.1f} min; checkpoint: {out}")  # fmt: skip
    for report in result.reports:
        print(report.line())
    for source, output, reference in result.reports[-1].examples if result.reports else []:
        print(f"  {source} -> {output}   (reference: {reference})")
