"""``rnnkit train lm``: a character- or word-level language model (:mod:`rnnkit.apps`).

The architecture and training options come from ``LanguageModelConfig`` and ``TrainConfig``
(:mod:`rnnkit.cli.options`); an option not given keeps the ``--preset``'s value.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rnnkit.apps.language_model import LM_PRESETS, WORD_PRESETS, LMRun, check_text_length
from rnnkit.cli.common import (
    OneLineParser,
    UsageError,
    add_run_options,
    bounded,
    check_out_free,
    flag,
    process_group,
)
from rnnkit.cli.options import (
    add_config_options,
    add_training_options,
    config_overrides,
    train_config,
)
from rnnkit.data.lm_corpus import LEVELS, LMCorpus
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

EPILOG = """examples:
  rnnkit train lm                                  # default preset on the bundled Shakespeare
  rnnkit train lm --preset quick --out runs/quick  # two minutes, a first look
  rnnkit train lm --text novel.txt --cell gru --hidden-size 512 --max-minutes 30
  rnnkit train lm --schedule cosine --warmup-steps 200 --out runs/cosine
  rnnkit train lm --resume runs/lm                 # continue a killed (or finished) run exactly
  rnnkit train lm --preset wikitext2 --data-dir ../shared/data/wikitext-2 --out runs/wt2
  rnnkit train lm --level word --train train.txt --valid valid.txt --test test.txt --tie-weights
  torchrun --standalone --nproc_per_node 2 -m rnnkit.cli train lm --out runs/ddp   # 2 processes
"""
#: what --resume DIR still accepts: the budget and how the result is shown
RESUME_OPTIONS = ("max_steps", "max_minutes", "no_progress", "sample_length")
NOT_RECORDED = ("run", "command", "task", "resume", "overwrite", "no_progress", "sample_length")
FILES = ("text", "train", "valid", "test", "data_dir")  # recorded as absolute paths


def add_parser(subparsers: argparse._SubParsersAction) -> OneLineParser:
    """Register ``lm`` under ``rnnkit train``."""
    presets = "\n".join(f"  {n:8s} {d}" for n, (_, _, d) in LM_PRESETS.items())
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
    words = p.add_argument_group("word level (WikiText-style files: whitespace tokens)")
    words.add_argument("--level", choices=LEVELS, help="tokens: char or word (default: preset's)")
    words.add_argument("--train", type=Path, help="training text (instead of --text)")
    words.add_argument("--valid", type=Path, help="validation text (default: split off --train)")
    words.add_argument("--test", type=Path, help="test text: evaluated once, at the end")
    words.add_argument("--data-dir", type=Path, help="a directory with train/valid/test.txt")
    words.add_argument("--max-vocab", type=bounded(int, 2, 10**7), help="most words, <unk> in")
    words.add_argument("--min-freq", type=bounded(int, 1, 10**9), default=1)
    words.add_argument(
        "--cutoffs", type=cutoffs, metavar="N,N", help="adaptive softmax clusters (2000,10000)"
    )
    p.add_argument("--sample-length", type=bounded(int, 0, 10**6), default=500)
    add_run_options(p, "runs/lm")
    add_config_options(p.add_argument_group("model (default: the preset's)"), LanguageModelConfig)
    add_training_options(p)
    p.set_defaults(run=run_train_lm)
    return p


def cutoffs(text: str) -> list[int]:
    """``"2000,10000"`` -> [2000, 10000] (argparse turns the ValueError into a usage error)."""
    values = [int(part) for part in text.split(",")]
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


def resumed_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The options a run was started with (from DIR/trainer_state/run.json), plus the budget."""
    from rnnkit.cli import build_parser
    from rnnkit.training.checkpoint import load_run_record

    defaults = vars(build_parser().parse_args(["train", "lm"]))
    fixed = [k for k in vars(args) if k not in (*RESUME_OPTIONS, "resume")]
    given = [k for k in fixed if getattr(args, k) != defaults.get(k)]
    if given:
        allowed = ", ".join(flag(k) for k in RESUME_OPTIONS)
        raise UsageError(
            f"--resume continues the run with its own options; drop {flag(given[0])} "
            f"(allowed with --resume: {allowed})"
        )
    saved = load_run_record(args.resume, "lm").get("cli")
    if not isinstance(saved, dict):
        raise UsageError(f"--resume: {args.resume} was not started by `rnnkit train lm`")
    merged = {**vars(args), **{k: v for k, v in saved.items() if k in defaults}}
    if args.max_steps is not None or args.max_minutes is not None:  # a new budget
        merged["max_steps"], merged["max_minutes"] = args.max_steps, args.max_minutes
    for name in FILES:
        merged[name] = Path(saved[name]) if saved.get(name) else None
    merged["out"] = args.resume
    return argparse.Namespace(**merged)


def recorded_options(args: argparse.Namespace) -> dict:
    """The options to store in run.json so that --resume can start the same run again."""
    options = {k: v for k, v in vars(args).items() if k not in NOT_RECORDED}
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    for name in FILES:
        path = getattr(args, name)
        options[name] = str(path.resolve()) if path is not None else None
    return options


def run_train_lm(args: argparse.Namespace) -> None:
    from rnnkit.apps.language_model import generate, train_lm

    resume = args.resume is not None
    if resume:
        args = resumed_arguments(args)
    model_fields, preset_train_fields, _ = LM_PRESETS[args.preset]
    model_fields = {**model_fields, **config_overrides(args, LanguageModelConfig)}
    if args.cutoffs is not None:
        model_fields["cutoffs"] = args.cutoffs
    config, notes = train_config(args, preset_train_fields, metrics=LanguageModel.METRICS)
    if not resume:
        check_out_free(args.out, overwrite=args.overwrite)
    corpus = read_corpus(args, config.batch_size)
    try:  # bad combinations (e.g. adaptive cutoffs beyond the vocabulary) fail before training
        LanguageModelConfig(vocab_size=len(corpus.vocab), **model_fields)
    except ValueError as e:
        raise UsageError(str(e)) from None
    with process_group() as workers:
        if workers.is_main:
            for note in notes:
                print(note, file=sys.stderr)
        run = train_lm(
            corpus,
            model_fields,
            config,
            args.out,
            progress=not args.no_progress,
            resume=resume,
            cli_options=recorded_options(args),
        )
    if not workers.is_main:
        return
    print(run_summary(run))
    if args.sample_length:
        vocab = run.model.vocab
        prime = "\n" if "\n" in vocab.stoi or run.unit == "word" else vocab.itos[1]
        print("--- sample ---")
        print(generate(run.model, prime, args.sample_length, temperature=0.8, seed=args.seed))


def level(args: argparse.Namespace) -> str:
    """The token level: ``--level``, else the preset's, else words when split files are given."""
    if args.level is not None:
        return args.level
    if args.preset in WORD_PRESETS or args.train is not None or args.data_dir is not None:
        return "word"
    return "char"


def read_corpus(args: argparse.Namespace, batch_size: int) -> LMCorpus:
    """The corpus the options name (files read here, so a bad one fails before training)."""
    from rnnkit.data.lm_corpus import char_corpus, read_word_corpus, split_files
    from rnnkit.data.text import SHAKESPEARE, bundled_text, read_text

    given = [flag(k) for k in ("text", "train", "data_dir") if getattr(args, k) is not None]
    if len(given) > 1:
        raise UsageError(f"give one of --text, --train, --data-dir, not {' and '.join(given)}")
    if level(args) == "char":
        words_only = [flag(k) for k in ("train", "valid", "test", "data_dir", "max_vocab")]
        if used := [f for f in words_only if getattr(args, f[2:].replace("-", "_")) is not None]:
            raise UsageError(f"{used[0]} is for word-level models (add --level word)")
        source = str(args.text) if args.text is not None else f"bundled {SHAKESPEARE}"
        text = read_text(args.text) if args.text is not None else bundled_text()
        check_text_length(text, batch_size, args.valid_fraction, source)
        return char_corpus(text, args.valid_fraction, source)
    files = {"train": args.train or args.text, "valid": args.valid, "test": args.test}
    if args.data_dir is not None:
        files = {**split_files(args.data_dir), **{k: v for k, v in files.items() if v}}
    if files["train"] is None:
        raise UsageError("a word-level model needs --train FILE, --text FILE or --data-dir DIR")
    return read_word_corpus(
        files["train"],
        files.get("valid"),
        files.get("test"),
        valid_fraction=args.valid_fraction,
        max_vocab=args.max_vocab,
        min_freq=args.min_freq,
    )


def run_summary(run: LMRun) -> str:
    """The figures of a finished run: validation (and test) loss, perplexity for words."""
    resumed = f" (resumed from step {run.resumed_from})" if run.resumed_from else ""
    unit = run.unit

    def figures(nats: float) -> str:
        bits = f"{nats:.4f} nats/{unit} ({nats / math.log(2):.4f} bits/{unit})"
        return f"{bits}, perplexity {math.exp(nats):.2f}" if unit == "word" else bits

    speed = run.tokens / max(run.wall_seconds, 1e-9)
    lines = [
        f"best validation: {figures(run.best_valid_nats)} after {run.steps} steps{resumed}, "
        f"wall time {run.wall_seconds / 60:.1f} min ({speed:,.0f} {unit}s/s); "
        f"checkpoint: {run.out_dir}"
    ]
    if run.test_nats is not None:
        lines.append(f"test (best model, measured once): {figures(run.test_nats)}")
    return "\n".join(lines)
