"""``rnnkit classify``: label texts with a trained sequence classifier."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from rnnkit.cli.common import UsageError, bounded, check_inputs, numbered, require_encoder

EPILOG = """examples:
  rnnkit classify --checkpoint runs/spam "WINNER!! Claim your free prize now" "see you at 6?"
  rnnkit classify --checkpoint runs/spam --input messages.txt --json
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="label texts with a trained classifier",
        description="Print the label and its probability for each text (one text per line "
        "of --input, or the TEXT arguments).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", type=Path, help="UTF-8 file, one text per line ('-': stdin)")
    p.add_argument("--json", action="store_true", help="JSON Lines: text, label, probabilities")
    p.add_argument("--batch-size", type=bounded(int, 1, 65536), default=64)
    p.set_defaults(run=run)


def input_name(path: Path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def read_input(path: Path) -> str:
    """``--input``: a file, or standard input for ``-`` (bytes that are not UTF-8 there are
    one line, whatever the locale makes of them)."""
    from rnnkit.data.text import read_stream, read_text

    if str(path) != "-":
        return read_text(path)
    try:
        return read_stream(sys.stdin)
    except UnicodeDecodeError as e:  # a strict UTF-8 locale; UTF-8 mode gives surrogates
        raise UsageError(f"<stdin>: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def run(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.tasks.classifier import SequenceClassifier

    check_inputs(numbered(args.texts, "TEXT "))  # before the model loads
    model = load(args.checkpoint)
    if not isinstance(model, SequenceClassifier):
        raise UsageError(f"{args.checkpoint}: not a classifier; `rnnkit classify` needs one")
    require_encoder(model, args.checkpoint, "classify")
    texts = list(args.texts)
    if args.input is not None:
        lines = numbered(read_input(args.input).splitlines(), f"{input_name(args.input)}:")
        check_inputs(lines)
        texts += [line for _, line in lines if line.strip()]
    if not texts:
        raise UsageError("give texts to classify: TEXT arguments or --input FILE")
    sequences = [model.encoder(t) for t in texts]
    probs = model.predict_proba(sequences, batch_size=args.batch_size)
    for text, p in zip(texts, probs.tolist(), strict=True):
        best = max(range(len(p)), key=p.__getitem__)
        if args.json:
            print(json.dumps(json_record(text, p, model.labels), ensure_ascii=False,
                             allow_nan=False))  # fmt: skip
        else:
            print(f"{model.labels[best]}\t{p[best]:.4f}\t{text}")


def json_record(text: str, p: list[float], labels: list[str]) -> dict[str, Any]:
    """One ``--json`` line. JSON has no NaN: a model that diverged (NaN weights) gives null
    probabilities and a null label, not a bare ``NaN`` that JSON readers refuse."""
    if not all(math.isfinite(x) for x in p):
        return {"text": text, "label": None, "probability": None,
                "probabilities": dict.fromkeys(labels)}  # fmt: skip
    best = max(range(len(p)), key=p.__getitem__)
    probabilities = dict(zip(labels, p, strict=True))
    return {"text": text, "label": labels[best], "probability": p[best],
            "probabilities": probabilities}  # fmt: skip
