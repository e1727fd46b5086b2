"""``rnnkit translate``: n-best outputs of a trained sequence-to-sequence model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.cli.common import (
    UsageError,
    add_decoding_options,
    check_inputs,
    decoding_options,
    numbered,
    require_encoder,
)
from rnnkit.cli.outputs import add_overwrite_option, check_output

if TYPE_CHECKING:
    from rnnkit.tasks.seq2seq import Seq2Seq

EPILOG = """examples:
  rnnkit translate --checkpoint runs/g2p --beam 5 --n-best 3 hello world
  rnnkit translate --checkpoint runs/g2p --input words.txt --beam 1      # greedy
  rnnkit translate --checkpoint runs/g2p --plot-attention att.png pronunciation
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "translate",
        help="decode inputs with a trained sequence-to-sequence model (beam search)",
        description="Each input (an argument, or a line of --input) is tokenised the way the "
        "model was trained (characters, whitespace-separated words, or a sorter's numbers) and "
        "decoded; the n-best outputs are printed with their scores (log-probability / length "
        "penalty). Source tokens unseen in training read as <unk>; how many is said on stderr.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="inputs to decode")
    p.add_argument("--input", type=Path, metavar="FILE", help="one input per line")
    p.add_argument("--json", action="store_true", help="JSON Lines out")
    add_decoding_options(p)
    add_overwrite_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.cli.common import save_attention_plot
    from rnnkit.data.text import read_text
    from rnnkit.tasks.seq2seq import Seq2Seq

    options = decoding_options(args)
    check_output(args.plot_attention, "--plot-attention", overwrite=args.overwrite)
    check_inputs(numbered(args.texts, "TEXT "))  # before the model loads
    model = load(args.checkpoint)
    if not isinstance(model, Seq2Seq):
        raise UsageError(f"{args.checkpoint}: not a sequence-to-sequence model")
    require_encoder(model, args.checkpoint, "translate")
    texts = list(args.texts)
    if args.input is not None:
        lines = read_text(args.input).splitlines()
        check_inputs(numbered(lines, f"{args.input}:"))
        texts += lines
    texts = [t for t in texts if t.strip()]  # blank lines are not inputs (nor misalign outputs)
    if not texts:
        raise UsageError("give inputs to decode: TEXT arguments or --input FILE")
    sources = [read_input(model, t) for t in texts]
    unknown = model.unknown_tokens(sources)
    if unknown:
        tokens = "1 input token was" if unknown == 1 else f"{unknown} input tokens were"
        print(f"note: {tokens} not seen in training (read as <unk>)", file=sys.stderr)
    results = model.translate(sources, **options)
    joiner = " " if model.task.get("target_tokens", "space") == "space" else ""
    for text, nbest in zip(texts, results, strict=False):
        if args.json:
            outs = [{"output": joiner.join(t.tokens), "score": t.score} for t in nbest]
            print(json.dumps({"input": text, "outputs": outs}, ensure_ascii=False))
            continue
        for rank, t in enumerate(nbest, start=1):
            prefix = text if rank == 1 else " " * len(text)
            print(f"{prefix}\t{joiner.join(t.tokens)}\t{t.score:.4f}")
    if args.plot_attention is not None:
        save_attention_plot(args.plot_attention, results[0][0], list(sources[0]))


def read_input(model: Seq2Seq, text: str) -> tuple[str, ...]:
    """One input -> the model's source tokens; an input it cannot read is a usage error."""
    try:
        return model.read_input(text)
    except ValueError as e:
        raise UsageError(f"input {text!r}: {e}") from None
