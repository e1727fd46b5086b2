"""``rnnkit train lm``: a character- or word-level language model (:mod:`rnnkit.apps`).

The architecture and training options come from ``LanguageModelConfig`` and ``TrainConfig``
(:mod:`rnnkit.cli.options`); an option not given keeps the ``--preset``'s value.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from rnnkit.apps.language_model import JOB, LM_PRESETS, WORD_PRESETS, LMRun
from rnnkit.cli.common import (
    OneLineParser,
    UsageError,
    add_run_options,
    bounded,
    duration,
    flag,
    process_group,
)
from rnnkit.cli.options import add_config_options, add_training_options, open_run
from rnnkit.data.lm_corpus import LEVELS

EPILOG = """examples:
  rnnkit train lm                                  # default preset on the bundled Shakespeare
  rnnkit train lm --preset quick --out runs/quick  # two minutes, a first look
  rnnkit train lm --text novel.txt --cell gru --hidden-size 512 --max-minutes 30
  rnnkit train lm --schedule cosine --warmup-steps 200 --out runs/cosine
  rnnkit train lm --resume runs/lm                 # continue a killed (or finished) run exactly
  rnnkit train lm --preset wikitext2 --data-dir ../shared/data/wikitext-2 --out runs/wt2
  rnnkit train lm --level word --train train.txt --valid valid.txt --test test.txt --tie-weights
  rnnkit train lm --preset char-forward --data-dir ../shared/data/wikitext-2 --out runs/fwd
  rnnkit train lm --preset char-backward --data-dir ../shared/data/wikitext-2 --out runs/bwd
  rnnkit train lm --preset encoder-wt2 --data-dir ../shared/data/wikitext-2 --out runs/enc
  torchrun --standalone --nproc_per_node 2 -m rnnkit.cli train lm --out runs/ddp   # 2 processes
"""
FILES = ("text", "train", "valid", "test", "data_dir")  # recorded as absolute paths


def add_parser(subparsers: argparse._SubParsersAction) -> OneLineParser:
    """Register ``lm`` under ``rnnkit train``."""
    presets = "\n".join(f"  {n:13s} {p.description}" for n, p in LM_PRESETS.items())
    p = subparsers.add_parser(
        "lm",
        help="train a character- or word-level language model",
        description="Train a character- or word-level language model and print a sample from it.",
        epilog=f"{EPILOG}\npresets:\n{presets}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--text", type=Path, help="UTF-8 text file (default: bundled tinyshakespeare)")
    p.add_argument("--preset", choices=sorted(LM_PRESETS), default="default")
    p.add_argument("--valid-fraction", type=bounded(float, 0.001, 0.5), default=0.1)
    p.add_argument(
        "--reverse",
        action="store_true",
        default=None,
        help="read every text backwards (a backward LM, e.g. for train tag --char-lm)",
    )
    words = p.add_argument_group("word level (WikiText-style files: whitespace tokens)")
    words.add_argument("--level", choices=LEVELS, help="tokens: char or word (default: preset's)")
    words.add_argument("--train", type=Path, help="training text (instead of --text)")
    words.add_argument("--valid", type=Path, help="validation text (default: split off --train)")
    words.add_argument("--test", type=Path, help="test text: evaluated once, at the end")
    words.add_argument(
        "--data-dir", type=Path, help="a directory with train/valid/test.txt (characters or words)"
    )
    words.add_argument("--max-vocab", type=bounded(int, 2, 10**7), help="most words, <unk> in")
    words.add_argument("--min-freq", type=bounded(int, 1, 10**9), default=1)
    words.add_argument(
        "--cutoffs", type=cutoffs, metavar="N,N", help="adaptive softmax clusters (2000,10000)"
    )
    p.add_argument("--sample-length", type=bounded(int, 0, 10**6), default=500)
    add_run_options(p, "runs/lm")
    add_config_options(p.add_argument_group("model (default: the preset's)"), JOB.model)
    add_training_options(p)
    p.set_defaults(run=run_train_lm)
    return p


def cutoffs(text: str) -> list[int]:
    """``"2000,10000"`` -> [2000, 10000] (argparse turns the ValueError into a usage error)."""
    values = [int(part) for part in text.split(",")]
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


def run_train_lm(args: argparse.Namespace) -> None:
    from rnnkit.apps.language_model import generate, read_corpus, train_lm

    data, model = {}, {}
    if args.resume is None:
        data = corpus_options(args)
        model = {"cutoffs": args.cutoffs} if args.cutoffs is not None else {}
    run = open_run(args, JOB, data=data, model=model, keep=("sample_length",), print_notes=False)
    corpus = read_corpus(run.config.data, run.config.training.batch_size)
    # bad combinations (e.g. adaptive cutoffs beyond the vocabulary) fail before training
    JOB.model_config(run.config, vocab_size=len(corpus.vocab))
    with process_group() as workers:
        for note in run.notes if workers.is_main else ():
            print(note, file=sys.stderr)
        result = train_lm(corpus, run, progress=not args.no_progress)
    if not workers.is_main:
        return
    print(run_summary(result))
    if args.sample_length:
        vocab = result.model.vocab
        prime = "\n" if "\n" in vocab.stoi or result.unit == "word" else vocab.itos[1]
        seed = run.config.training.seed
        sample = generate(result.model, prime, args.sample_length, temperature=0.8, seed=seed)
        if prime == "\n":  # a start-of-text marker the job chose: not the model's writing
            sample = sample[:-1] if result.model.reverse else sample[1:]  # reading order
        print("--- sample ---")
        print(sample if sample.strip() else "(only line ends: the model has barely trained)")


def corpus_options(args: argparse.Namespace) -> dict[str, Any]:
    """The data fields of a fresh run (``LMData``): files, token level, vocabulary options."""
    given = [flag(k) for k in ("text", "train", "data_dir") if getattr(args, k) is not None]
    if len(given) > 1:
        raise UsageError(f"give one of --text, --train, --data-dir, not {' and '.join(given)}")
    chosen = level(args)
    if chosen == "char":
        words_only = [flag(k) for k in ("train", "valid", "test", "max_vocab")]
        if used := [f for f in words_only if getattr(args, f[2:].replace("-", "_")) is not None]:
            raise UsageError(f"{used[0]} is for word-level models (add --level word)")
    elif (args.train or args.text or args.data_dir) is None:
        raise UsageError("a word-level model needs --train FILE, --text FILE or --data-dir DIR")
    files = {k: str(getattr(args, k)) for k in FILES if getattr(args, k) is not None}
    reverse = {"reverse": True} if args.reverse else {}  # else the preset's
    return {"level": chosen, "valid_fraction": args.valid_fraction, "max_vocab": args.max_vocab,
            "min_freq": args.min_freq, **files, **reverse}  # fmt: skip


def level(args: argparse.Namespace) -> str:
    """The token level: ``--level``, else the preset's, else words when split files are given."""
    if args.level is not None:
        return args.level
    if (preset_level := LM_PRESETS[args.preset].data.get("level")) is not None:
        return preset_level
    if args.preset in WORD_PRESETS or args.train is not None or args.data_dir is not None:
        return "word"
    return "char"


def run_summary(run: LMRun) -> str:
    """The figures of a finished run: validation (and test) loss, perplexity for words."""
    resumed = f" (resumed from step {run.resumed_from})" if run.resumed_from else ""
    unit = run.unit

    def figures(nats: float) -> str:
        bits = f"{nats:.4f} nats/{unit} ({nats / math.log(2):.4f} bits/{unit})"
        return f"{bits}, perplexity {math.exp(nats):.2f}" if unit == "word" else bits

    speed = run.tokens_per_second  # a resumed run's counts only its own steps
    lines = [
        f"best validation: {figures(run.best_valid_nats)} after {run.steps} steps{resumed}, "
        f"wall time {duration(run.wall_seconds)} ({speed:,.0f} {unit}s/s); "
        f"checkpoint: {run.out_dir}"
    ]
    if run.test_nats is not None:
        lines.append(f"test (best model, measured once): {figures(run.test_nats)}")
    return "\n".join(lines)
