"""``rnnkit sort``: sort a list of numbers with a trained sorter."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.cli.common import UsageError, add_decoding_options, decoding_options, require_encoder
from rnnkit.cli.outputs import add_overwrite_option, check_output

EPILOG = """examples:
  rnnkit sort --checkpoint runs/sort 5 3 9 1          # the run's best model (by validation)
  rnnkit sort --checkpoint runs/sort/pointer --beam 1 42 7 7 19
  rnnkit sort --checkpoint runs/sort/attention --plot-attention sort.png 8 2 6
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sort",
        help="sort numbers with a trained sorter (`rnnkit train sort`)",
        description="Prints the model's sorted list of the given integers, which must lie in "
        "the range the model was trained on.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="a sorter's directory, or a `train sort` run (its best model)")  # fmt: skip
    p.add_argument("numbers", nargs="+", metavar="N", help="integers to sort")
    add_decoding_options(p)
    add_overwrite_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.sort import sorter_directory
    from rnnkit.checkpoint import load
    from rnnkit.cli.common import save_attention_plot
    from rnnkit.tasks.seq2seq import Seq2Seq

    options = decoding_options(args)
    check_output(args.plot_attention, "--plot-attention", overwrite=args.overwrite)
    model = load(sorter_directory(args.checkpoint))
    if not isinstance(model, Seq2Seq) or model.task.get("job") != "sort":
        raise UsageError(f"{args.checkpoint}: not a number sorter (train one with "
                         "`rnnkit train sort`)")  # fmt: skip
    require_encoder(model, args.checkpoint, "sort")
    try:
        source = list(model.read_input(" ".join(args.numbers)))
    except ValueError as e:
        raise UsageError(str(e)) from None
    [nbest] = model.translate([source], **options)
    for t in nbest:
        print(" ".join(t.tokens) + (f"\t{t.score:.4f}" if len(nbest) > 1 else ""))
    if args.plot_attention is not None:
        save_attention_plot(args.plot_attention, nbest[0], source)
