"""``rnnkit evaluate``: a trained model's figures on a labelled file (or a text, for an LM)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.apps.classify import ClassifyData
from rnnkit.cli.common import BEAM_MAX, UsageError, bounded, require_encoder
from rnnkit.cli.outputs import add_overwrite_option, check_outputs

if TYPE_CHECKING:
    from rnnkit.training.metrics import ClassificationReport

EPILOG = """examples:
  rnnkit evaluate --checkpoint runs/spam --data spam_test.tsv --no-header
  rnnkit evaluate --checkpoint runs/spam --data enron/ --format folders --json
  rnnkit evaluate --checkpoint runs/pos --data en_ewt-ud-test.conllu   # a tagger
  rnnkit evaluate --checkpoint runs/lm --data held_out.txt      # language model: nats/char
  rnnkit evaluate --checkpoint runs/g2p --data pairs.tsv --beam 10   # sequence to sequence
  rnnkit evaluate --checkpoint runs/ctc-speech --data recordings/list.tsv   # file<TAB>digits
"""
#: the reading options of the classification data that apply to an evaluation file
READING = ("format", "email_fields", "strict", "text_column", "label_column", "no_header",
           "encoding_fallback")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    from rnnkit.cli.options import add_config_options

    p = sub.add_parser(
        "evaluate",
        help="a trained model's figures on a labelled file or folder",
        description="Classifier: accuracy, per-class precision/recall/F1, macro F1, MCC and "
        "the confusion matrix. Tagger (CoNLL-U --data): accuracy over all words and over words "
        "unseen in training, per-tag scores, the most frequent confusions. Language model: "
        "nats, bits per token and perplexity. Sequence to sequence (a pairs file): sequence "
        "and token error rates (WER/PER), greedy and with beam search. Speech CTC model "
        "(`train ctc --preset speech`; --data: a list of WAV file<TAB>transcript lines, the "
        "files relative to the list): sequence accuracy and word error rate, greedy and prefix "
        "beam.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("--data", type=Path, required=True, help="labelled file or folder / text")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--beam", type=bounded(int, 1, BEAM_MAX), default=5,
                   help="sequence to sequence: beam size")  # fmt: skip
    p.add_argument(
        "--plot-attention", type=Path, metavar="FILE",
        help="sequence to sequence: the first pair's attention heatmap (PNG)",
    )  # fmt: skip
    p.add_argument("--plot-confusion", type=Path, metavar="FILE",
                   help="classifier or tagger: the confusion matrix (PNG)")  # fmt: skip
    add_overwrite_option(p)
    skip = [f for f in ClassifyData.__dataclass_fields__ if f not in READING]
    add_config_options(p.add_argument_group("reading the data"), ClassifyData, skip=skip)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rnnkit.apps.classify import evaluate_classifier
    from rnnkit.checkpoint import load
    from rnnkit.cli.options import config_overrides
    from rnnkit.tasks.classifier import SequenceClassifier
    from rnnkit.tasks.ctc import CTCRecognizer
    from rnnkit.tasks.language_model import LanguageModel
    from rnnkit.tasks.seq2seq import Seq2Seq
    from rnnkit.tasks.tagger import Tagger

    plots = [(args.plot_confusion, "--plot-confusion"), (args.plot_attention, "--plot-attention")]
    check_outputs(plots, overwrite=args.overwrite)
    model = load(args.checkpoint)
    require_encoder(model, args.checkpoint, "evaluate")
    if args.plot_confusion is not None and not isinstance(model, (SequenceClassifier, Tagger)):
        raise UsageError("--plot-confusion: only classifiers and taggers have a confusion matrix")
    if isinstance(model, Seq2Seq):
        return print_seq2seq(model, args)
    if isinstance(model, LanguageModel):
        return print_language_model(model, args)
    if isinstance(model, Tagger):
        return print_tagger(model, args)
    if isinstance(model, CTCRecognizer):
        return print_ctc(model, args)
    if not isinstance(model, SequenceClassifier):
        raise UsageError(f"{args.checkpoint}: `rnnkit evaluate` does not know this model kind")
    corpus = ClassifyData(**config_overrides(args, ClassifyData)).read(args.data)
    report = evaluate_classifier(model, corpus)
    save_confusion_plot(args.plot_confusion, report, f"{args.checkpoint.name} on {args.data.name}")
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return None
    print(corpus.summary())
    print(report.table())
    print()
    print(report.confusion_table())
    return None


def print_language_model(model, args: argparse.Namespace) -> None:
    from rnnkit.data.text import read_text
    from rnnkit.training.trainer import evaluate

    unit = model.unit
    ids = model.vocab.encode(read_text(args.data))
    if len(ids) < 3:
        raise UsageError(f"{args.data}: too short to evaluate (needs at least 3 {unit}s)")
    nats = evaluate(model, ids, batch_size=16, bptt=100)
    figures = {"nats": nats, "bits": nats / math.log(2), "perplexity": math.exp(nats)}
    figures.update(tokens=len(ids), unknown=int((ids == 0).sum()), unit=unit)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{args.data}: {nats:.4f} nats/{unit}, {figures['bits']:.4f} bits/{unit}, "
            f"perplexity {figures['perplexity']:.3f} over {len(ids):,} {unit}s "
            f"({figures['unknown']:,} unknown)"
        )


def print_tagger(model, args: argparse.Namespace) -> None:
    from rnnkit.apps.tag import evaluate_tagger, read_treebank

    report = evaluate_tagger(model, read_treebank(args.data, model.column))
    save_confusion_plot(args.plot_confusion, report.per_tag, f"{args.data.name}: tags")
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())


def save_confusion_plot(path: Path | None, report: ClassificationReport, title: str) -> None:
    """``--plot-confusion``: the report's confusion matrix as PNG (nothing without the option)."""
    if path is None:
        return
    from rnnkit.viz.confusion import plot_confusion

    path.parent.mkdir(parents=True, exist_ok=True)
    plot_confusion(report.confusion, report.labels, path, title=title)
    print(f"confusion matrix: {path}", file=sys.stderr)


def print_ctc(model, args: argparse.Namespace) -> None:
    from rnnkit.apps.ctc import scores
    from rnnkit.data.speech import read_transcripts

    if model.config.source != "speech":  # no file format of labelled line images (yet)
        raise UsageError(f"{args.checkpoint}: a {model.config.source} CTC model; evaluate "
                         "reads speech models' recordings only (its test figures: "
                         "report.json)")  # fmt: skip
    data = read_transcripts(args.data, alphabet=model.config.alphabet,
                            n_mels=model.config.image_height)  # fmt: skip
    figures = {"recordings": len(data), "greedy": scores(model.recognise(data.images),
                                                         data.labels, error="wer")}  # fmt: skip
    if args.beam > 1:
        found = model.recognise(data.images, beam_size=args.beam)
        figures["beam"] = {**scores(found, data.labels, error="wer"), "beam_size": args.beam}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.data}: {len(data):,} recordings")
    for name, got in figures.items():
        if name != "recordings":
            print(f"{name}: sequence accuracy {got['sequence_accuracy']:.2%}, word error rate "
                  f"{got['wer']:.2%}")  # fmt: skip


def print_seq2seq(model, args: argparse.Namespace) -> None:
    from rnnkit.apps.seq2seq import evaluate_pairs
    from rnnkit.cli.common import save_attention_plot
    from rnnkit.data.pairs import Pair, read_pairs

    # sources read as characters keep their text whole for the model's own reading of it
    raw = read_pairs(args.data, source_tokens="char",
                     target_tokens=model.task.get("target_tokens", "space"))  # fmt: skip
    pairs = []
    for n, pair in enumerate(raw, start=1):
        try:
            pairs.append(Pair(model.read_input("".join(pair.source)), pair.target))
        except ValueError as e:
            raise UsageError(f"{args.data}: pair {n}: {e}") from None
    reports = [evaluate_pairs(model, pairs, method="greedy")]
    if args.beam > 1:
        reports.append(evaluate_pairs(model, pairs, method="beam", beam_size=args.beam))
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2, ensure_ascii=False))
    else:
        unknown = reports[0].unknown_source_tokens
        print(f"{args.data}: {len(pairs):,} pairs; {unknown} source tokens unseen in training")
        for report in reports:
            print(report.line())
    if args.plot_attention is not None:
        source = list(pairs[0].source)
        [nbest] = model.translate([source], method="beam", beam_size=args.beam)
        save_attention_plot(args.plot_attention, nbest[0], source)
