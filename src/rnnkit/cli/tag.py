"""``rnnkit tag``: tag sentences with a trained tagger; CoNLL-U or word/TAG out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.common import UsageError, bounded, check_inputs, numbered, require_encoder

EPILOG = """examples:
  rnnkit tag --checkpoint runs/pos "The quick brown fox jumps over the lazy dog ."
  rnnkit tag --checkpoint runs/pos --input sentences.txt --format plain
  rnnkit tag --checkpoint runs/pos --input en_ewt-ud-test.conllu > predicted.conllu
  rnnkit tag --checkpoint runs/pos --input tokens.txt --input-format tokens
"""
INPUTS = ("auto", "conllu", "lines", "tokens")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tag",
        help="tag sentences with a trained tagger",
        description="Tag each sentence. Plain input is tokenised by whitespace only (no "
        "punctuation splitting): one sentence per line, or with --input-format tokens one "
        "token per line and a blank line between sentences. CoNLL-U input keeps every other "
        "column and comment; the tagger's column is replaced.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="sentences to tag")
    p.add_argument("--input", type=Path, metavar="FILE", help="sentences to tag")
    p.add_argument(
        "--input-format", choices=INPUTS, default="auto", help="auto: .conllu is CoNLL-U"
    )
    p.add_argument("--format", choices=("conllu", "plain"), default="conllu", help="output")
    p.add_argument("--batch-size", type=bounded(int, 1, 65536), default=64)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.checkpoint import load
    from rnnkit.data.conllu import (
        read_conllu,
        read_plain,
        sentences_from_words,
        write_conllu,
    )
    from rnnkit.tasks.tagger import Tagger

    check_inputs(numbered(args.texts, "TEXT "))  # before the model loads
    model = load(args.checkpoint)
    if not isinstance(model, Tagger):
        raise UsageError(f"{args.checkpoint}: not a tagger; `rnnkit tag` needs one")
    require_encoder(model, args.checkpoint, "tag")
    kind = args.input_format
    if kind == "auto" and args.input is not None:
        kind = "conllu" if args.input.suffix == ".conllu" else "lines"
    if args.input is not None and kind == "conllu":
        sentences = read_conllu(args.input)
    else:
        words = [t.split() for t in args.texts if t.split()]
        if args.input is not None:
            words += read_plain(args.input, pretokenized=kind == "tokens")
        if not words:
            raise UsageError("give sentences to tag: TEXT arguments or --input FILE")
        sentences = sentences_from_words(words)
    where = f"{args.input}: sentence " if args.input is not None else "sentence "
    check_inputs(numbered((" ".join(s.words) for s in sentences), where))
    tags = model.tag([s.words for s in sentences], batch_size=args.batch_size)
    if args.format == "plain":
        for sentence, sentence_tags in zip(sentences, tags, strict=True):
            print(" ".join(f"{w}/{t}" for w, t in zip(sentence.words, sentence_tags, strict=True)))
        return
    tagged = [s.with_column(model.column, t) for s, t in zip(sentences, tags, strict=True)]
    write_conllu(tagged, sys.stdout)
