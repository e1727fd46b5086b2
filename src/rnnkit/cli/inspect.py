"""``rnnkit inspect``: a static HTML page of what a character language model's cells track."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.cli.common import UsageError, bounded
from rnnkit.cli.outputs import add_overwrite_option, check_outputs

if TYPE_CHECKING:
    from rnnkit.tasks.language_model import LanguageModel

MAX_CHARS = 100_000  # the most --max-chars allows: the page holds T x H activations
EPILOG = """examples:
  rnnkit inspect --checkpoint runs/lm --text play.txt --out lm.html
  rnnkit inspect --checkpoint runs/lm --text code.c --out code.html --layer 0 \\
      --saturation-png saturation.png --max-chars 5000
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="an HTML page of a text coloured by a language model's cells",
        description="Write a self-contained HTML page: the text coloured by a chosen cell's "
        "activation (tanh(c) for an LSTM, h otherwise), a cell picker, the top-5 next "
        "characters on hover, the cells that track quotes, line position and brackets, and "
        "the gate-saturation scatter (docs/inspect.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="language model directory")
    p.add_argument("--text", type=Path, required=True, help="UTF-8 text to read")
    p.add_argument("--out", type=Path, required=True, metavar="PAGE.html")
    p.add_argument("--layer", type=int, help="layer to show, 0-based (default: the last)")
    p.add_argument("--max-chars", type=bounded(int, 1, MAX_CHARS), default=4000,
                   help=f"refuse longer texts (at most {MAX_CHARS})")  # fmt: skip
    p.add_argument("--saturation-png", type=Path, metavar="FILE.png",
                   help="also save the gate-saturation scatter as PNG")  # fmt: skip
    add_overwrite_option(p)
    p.set_defaults(run=run)


def load_char_lm(directory: Path) -> LanguageModel:
    """The language model in ``directory``; one-line errors for other models or no vocabulary."""
    from rnnkit.checkpoint import load, model_format
    from rnnkit.tasks.language_model import FORMAT

    kind = model_format(directory)
    if kind != FORMAT:
        raise UsageError(
            f"{directory} is a {kind} checkpoint; `rnnkit inspect` needs a language model"
        )
    model = load(directory)
    vocab = model.vocab
    if vocab is None or getattr(vocab, "separator", "") != "":
        raise UsageError(f"{directory}: `rnnkit inspect` needs a character-level language model")
    return model


def read_capped(path: Path, max_chars: int) -> str:
    """The text of ``path``; a one-line error when it is longer than ``--max-chars``."""
    from rnnkit.data.text import read_text

    text = read_text(path)
    if len(text) > max_chars:
        raise UsageError(
            f"--text {path}: {len(text)} characters, more than --max-chars {max_chars} "
            f"(raise it, up to {MAX_CHARS}, or pass a shorter text)"
        )
    return text


def run(args: argparse.Namespace) -> None:
    from rnnkit.viz.activations import cell_activations
    from rnnkit.viz.inspect_page import inspect_page
    from rnnkit.viz.saturation import gate_saturation, plot_saturation

    check_outputs([(args.out, "--out"), (args.saturation_png, "--saturation-png")],
                  overwrite=args.overwrite)  # fmt: skip
    model = load_char_lm(args.checkpoint)
    text = read_capped(args.text, args.max_chars)
    layers = model.config.num_layers
    layer = layers - 1 if args.layer is None else args.layer
    if not 0 <= layer < layers:
        raise UsageError(f"--layer {args.layer}: the model has {layers} layers (0..{layers - 1})")
    acts = cell_activations(model, model.vocab.encode(text))
    html = inspect_page(
        text, acts, model.vocab.itos, layer=layer, title=f"{args.checkpoint.name}: {args.text.name}"
    )
    write(args.out, html)
    if missing := model.vocab.missing(text):  # after the page: an error is the only line
        shown = " ".join(repr(c) for c in missing[:10])
        print(f"note: characters not in the vocabulary (read as unknown): {shown}", file=sys.stderr)
    print(f"page: {args.out} ({len(text)} characters, {acts.h.shape[-1]} cells per layer)")
    if args.saturation_png is not None:
        args.saturation_png.parent.mkdir(parents=True, exist_ok=True)
        print(f"saturation: {plot_saturation(gate_saturation(acts.gates), args.saturation_png)}")


def write(path: Path, html: str) -> None:
    """Write the page; a one-line error when the file cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--out {path}: cannot write ({e.strerror or e})") from None
