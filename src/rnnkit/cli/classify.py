"""``rnnkit classify``: label texts with a trained sequence classifier."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit.cli.common import UsageError, bounded

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


def run(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.data.text import read_stream, read_text
    from rnnkit.tasks.classifier import SequenceClassifier

    model = load(args.checkpoint)
    if not isinstance(model, SequenceClassifier):
        raise UsageError(f"{args.checkpoint}: not a classifier; `rnnkit classify` needs one")
    texts = list(args.texts)
    if args.input is not None:
        lines = read_stream(sys.stdin) if str(args.input) == "-" else read_text(args.input)
        texts += [line for line in lines.splitlines() if line.strip()]
    if not texts:
        raise UsageError("give texts to classify: TEXT arguments or --input FILE")
    sequences = [model.encoder(t) for t in texts]
    probs = model.predict_proba(sequences, batch_size=args.batch_size)
    for text, p in zip(texts, probs.tolist(), strict=True):
        best = max(range(len(p)), key=p.__getitem__)
        if args.json:
            record = {"text": text, "label": model.labels[best], "probability": p[best]}
            record["probabilities"] = dict(zip(model.labels, p, strict=True))
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"{model.labels[best]}\t{p[best]:.4f}\t{text}")
