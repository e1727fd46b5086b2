"""``rnnkit sample``: generate text from a trained language model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.checks import check_unicode
from rnnkit.cli.common import OneLineParser, UsageError, bounded, seed_type
from rnnkit.errors import RnnkitError

EPILOG = """examples:
  rnnkit sample --checkpoint runs/lm --prime "ROMEO:" --length 500 --temperature 0.8
  rnnkit sample --checkpoint runs/lm --top-k 5 --seed 1
"""


def add_parser(subparsers: argparse._SubParsersAction) -> OneLineParser:
    """Register ``rnnkit sample``."""
    p = subparsers.add_parser(
        "sample",
        help="generate text from a trained language model",
        description="Feed --prime through the model, then sample --length characters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    p.add_argument("--length", type=bounded(int, 0, 10**7), default=500)
    p.add_argument("--temperature", type=bounded(float, 0.0, 100.0), default=0.8)
    p.add_argument("--top-k", type=bounded(int, 1, 10**6))
    p.add_argument("--top-p", type=bounded(float, 0.0, 1.0, open_low=True))
    p.add_argument("--seed", type=seed_type())
    p.set_defaults(run=run_sample)
    return p


def run_sample(args: argparse.Namespace) -> None:
    from rnnkit.apps.language_model import generate_iter
    from rnnkit.checkpoint import load, model_format
    from rnnkit.tasks.language_model import FORMAT

    try:  # the prime is printed: a byte of argv that is not UTF-8 would fail there
        check_unicode("--prime", args.prime)
    except ValueError as e:
        raise UsageError(str(e)) from None
    kind = model_format(args.checkpoint)
    if kind != FORMAT:
        raise UsageError(
            f"{args.checkpoint} is a {kind} checkpoint; `rnnkit sample` needs a language model"
        )
    model = load(args.checkpoint)  # a LanguageModel
    if model.vocab is None:
        raise UsageError(f"{args.checkpoint}: checkpoint has no vocabulary to sample with")
    if not args.prime:
        raise UsageError("--prime must not be empty")
    if model.vocab.separator and (unknown := model.vocab.missing(args.prime)):
        shown = " ".join(repr(w) for w in unknown[:10])
        print(
            f"note: --prime words not in the vocabulary are read as <unk>: {shown}", file=sys.stderr
        )
    if model.reverse:  # written backwards, from the prime's end: shown once, in reading order
        return print_reversed(model, args)
    try:
        pieces = generate_iter(
            model,
            args.prime,
            args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
        )
    except RnnkitError as e:
        raise UsageError(f"--prime: {e}") from None
    sys.stdout.write(args.prime)
    for piece in pieces:  # each as it is drawn: a terminal shows the text line by line
        sys.stdout.write(piece)
    sys.stdout.write("\n")


def print_reversed(model, args: argparse.Namespace) -> None:
    """A backward LM's sample: ``--prime`` is the end of the text, the model writes what comes
    before it; the whole text is printed at the end, in reading order."""
    from rnnkit.apps.language_model import generate

    print("note: a backward language model (trained on reversed text): it writes the text "
          "before --prime; shown in reading order", file=sys.stderr)  # fmt: skip
    try:
        text = generate(model, args.prime, args.length, temperature=args.temperature,
                        top_k=args.top_k, top_p=args.top_p, seed=args.seed)  # fmt: skip
    except RnnkitError as e:
        raise UsageError(f"--prime: {e}") from None
    sys.stdout.write(text + "\n")
