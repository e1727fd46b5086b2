"""``rnnkit export``: a trained model as ONNX files, optionally checked in onnxruntime, or its
input embedding as word vectors."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.cli.common import OneLineParser, UsageError
from rnnkit.cli.outputs import add_overwrite_option, check_outputs

EPILOG = """examples:
  rnnkit export --checkpoint runs/lm --format onnx --out lm.onnx
  rnnkit export --checkpoint runs/g2p --out g2p.onnx --verify   # g2p.encoder.onnx, g2p.decoder.onnx
  rnnkit export --checkpoint runs/spam --format word-vectors --out spam.vec  # word2vec text

A language model becomes a step function (tokens, state -> log-probs, state); a classifier
and a tagger take padded batches with lengths; an encoder-decoder model writes two files,
OUT's name + .encoder and + .decoder. See docs/export.md. --format word-vectors writes the
input embedding of a word model (classifier, tagger, seq2seq source, language model) in the
word2vec text layout, which --word-vectors reads.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> OneLineParser:
    """Register ``rnnkit export``."""
    p = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX, or its input embedding as word vectors",
        description="Write the model in --checkpoint as ONNX (TorchScript exporter, opset 17), "
        "or its input embedding as word2vec text.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("--format", choices=("onnx", "word-vectors"), default="onnx",
                   help="output format")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="output file, e.g. model.onnx")
    p.add_argument(
        "--verify", action="store_true", help="compare onnxruntime with torch on random inputs"
    )
    add_overwrite_option(p)
    p.set_defaults(run=run_export)
    return p


def run_export(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.export import EXPORTER, export_onnx
    from rnnkit.export.onnx import graph_path, model_graphs

    out = args.out
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out}/model.onnx")
    if args.format == "word-vectors":
        return run_export_vectors(args)
    if out.suffix != ".onnx":
        raise UsageError(f"--out must end in .onnx, got {out}")
    check_outputs([(out, "--out")], overwrite=args.overwrite)  # before the model loads
    model = load(args.checkpoint)
    parts = [graph_path(out, graph) for graph in model_graphs(model)]
    check_outputs([(path, "--out") for path in parts if path != out], overwrite=args.overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create its folder ({e.strerror})") from None
    paths = export_onnx(model, out)
    print(f"exported {type(model).__name__} with {EXPORTER}:")
    for path in paths:
        print(f"  {path}")
    if args.verify:
        print_verification(model, paths)


def print_verification(model: object, paths: list[Path]) -> None:
    """Max |onnxruntime - torch| per (batch size, length) case, one line each."""
    from rnnkit.export.verify import verify_onnx

    for (B, T), diff in verify_onnx(model, paths).items():
        print(f"  onnxruntime vs torch, batch {B}, length {T}: max abs diff {diff:.2e}")


def run_export_vectors(args: argparse.Namespace) -> None:
    """The input embedding's rows, one word per line (word2vec text)."""
    from rnnkit.checkpoint import load
    from rnnkit.tasks.input_words import export_word_vectors

    if args.verify:
        raise UsageError("--verify checks ONNX files; --format word-vectors has nothing to verify")
    check_outputs([(args.out, "--out")], overwrite=args.overwrite)
    model = load(args.checkpoint)
    written = export_word_vectors(model, args.out)
    print(f"wrote {written:,} word vectors of {type(model).__name__} to {args.out}")
