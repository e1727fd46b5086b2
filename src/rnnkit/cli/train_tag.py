"""``rnnkit train tag``: train a part-of-speech (or any column) tagger on CoNLL-U files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.apps.tag import JOB, PRESETS, TAG_COLUMNS
from rnnkit.cli.common import UsageError, add_run_options, duration, process_group
from rnnkit.cli.options import (
    STREAM_ONLY,
    add_config_options,
    add_training_options,
    open_run,
    vectors_width,
)

EPILOG = """examples:
  rnnkit train tag --preset ud-ewt --train en_ewt-ud-train.conllu --dev en_ewt-ud-dev.conllu \\
      --test en_ewt-ud-test.conllu --out runs/pos
  rnnkit train tag --train t.conllu --dev d.conllu --column XPOS --crf --out runs/xpos
  rnnkit train tag --resume runs/pos --max-minutes 30     # continue a killed run exactly
  rnnkit train tag --preset ud-ewt --train ... --dev ... --char-lm runs/fwd,runs/bwd --out runs/cse
      # contextual string embeddings: train lm --preset char-forward / char-backward first
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tag",
        help="train a sequence tagger (e.g. part of speech) on CoNLL-U files",
        description="Train a word + character BiRNN tagger (softmax or CRF output); the best "
        "checkpoint by dev accuracy is kept and reported on --test.",
        epilog=EPILOG
        + "\npresets:\n"
        + "\n".join(f"  {n:7s} {p.description}" for n, p in PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--train", type=Path, metavar="FILE", help="CoNLL-U training sentences")
    p.add_argument("--dev", type=Path, metavar="FILE", help="CoNLL-U sentences to choose on")
    p.add_argument("--test", type=Path, metavar="FILE", help="CoNLL-U sentences to report on")
    p.add_argument("--column", choices=TAG_COLUMNS, default="UPOS", help="the column to predict")
    p.add_argument(
        "--word-vectors",
        type=Path,
        metavar="FILE",
        help="pretrained vectors for the word embedding: word2vec (text or .bin), "
        "GloVe or fastText .vec (the word embedding size follows the file)",
    )
    p.add_argument(
        "--freeze-word-vectors",
        action="store_true",
        default=None,
        help="keep the --word-vectors embedding fixed",
    )
    p.add_argument(
        "--char-lm",
        type=char_lm_pair,
        metavar="FWD_DIR,BWD_DIR",
        help="contextual string embeddings from two character LMs (rnnkit train lm; BWD with "
        "--reverse), frozen; the tagger's checkpoint holds them",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="ud-ewt")
    add_run_options(p, "runs/tag")
    add_config_options(p.add_argument_group("model"), JOB.model, skip=JOB.sizes)
    add_training_options(p, skip=STREAM_ONLY)
    p.set_defaults(run=run)


def char_lm_pair(text: str) -> tuple[Path, Path]:
    """``"FWD_DIR,BWD_DIR"`` -> two paths (a usage error otherwise)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected FWD_DIR,BWD_DIR, got {text!r}")
    return Path(parts[0]), Path(parts[1])


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.tag import train_tagger

    if args.resume is None and (args.train is None or args.dev is None):
        raise UsageError("--train and --dev are required (CoNLL-U files)")
    files = {"train": args.train, "dev": args.dev, "test": args.test, "column": args.column,
             "word_vectors": args.word_vectors}  # fmt: skip
    data = {k: v and str(v) for k, v in files.items()}
    data["freeze_word_vectors"] = bool(args.freeze_word_vectors)
    if args.char_lm is not None:
        data["char_lm_forward"], data["char_lm_backward"] = map(str, args.char_lm)
    width = vectors_width(args, JOB, "word_embedding_size")
    run_ = open_run(args, JOB, data=data, model=width)
    say = print if not args.no_progress else (lambda line: print(line, file=sys.stderr))
    with process_group() as workers:  # torchrun: data parallel
        result = train_tagger(run_, progress=not args.no_progress, say=say)
    if not workers.is_main:
        return
    print(
        f"best dev accuracy {result.best_dev_accuracy:.2%} after {result.steps} steps, "
        f"{duration(result.wall_seconds)}; checkpoint: {run_.out}"
    )
    if result.test is not None:
        print(f"--- test: {run_.config.data.test} ---")
        print(result.test.text())
