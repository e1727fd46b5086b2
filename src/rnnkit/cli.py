"""The ``rnnkit`` command line: parses arguments, builds configs, calls the library.

Every user error (bad file, bad option, bad checkpoint) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from rnnkit.errors import RnnkitError

EPILOG_TRAIN_LM = """examples:
  rnnkit train lm                                  # default preset on the bundled Shakespeare
  rnnkit train lm --preset quick --out runs/quick  # two minutes, a first look
  rnnkit train lm --text novel.txt --cell gru --hidden-size 512 --max-minutes 30
"""
EPILOG_SAMPLE = """examples:
  rnnkit sample --checkpoint runs/lm --prime "ROMEO:" --length 500 --temperature 0.8
  rnnkit sample --checkpoint runs/lm --top-k 5 --seed 1
"""


class UsageError(RnnkitError):
    """A bad command-line value."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exits with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def bounded(
    kind: type, low: float | None = None, high: float | None = None, *, open_high: bool = False
) -> Callable[[str], float]:
    """An argparse type that parses ``kind`` and checks it lies in [low, high] (or [low, high))."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        too_high = high is not None and (value >= high if open_high else value > high)
        if (low is not None and value < low) or too_high:
            upper = "inf" if high is None else high
            bracket = ")" if open_high or high is None else "]"
            raise argparse.ArgumentTypeError(f"must be in [{low}, {upper}{bracket}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def add_train_lm(sub: argparse._SubParsersAction) -> None:
    from rnnkit.training.presets import LM_PRESETS

    p = sub.add_parser(
        "lm",
        help="train a character-level language model",
        description="Train a character-level language model and print a sample from it.",
        epilog=EPILOG_TRAIN_LM
        + "\npresets:\n"
        + "\n".join(f"  {n:8s} {d}" for n, (_, _, d) in LM_PRESETS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--text", type=Path, help="UTF-8 text file (default: bundled tinyshakespeare)")
    p.add_argument("--preset", choices=sorted(LM_PRESETS), default="default")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"])
    p.add_argument("--hidden-size", type=bounded(int, 1, 65536))
    p.add_argument("--num-layers", type=bounded(int, 1, 64))
    p.add_argument("--dropout", type=bounded(float, 0.0, 1.0, open_high=True))
    p.add_argument("--bptt", type=bounded(int, 1, 100000), help="truncated-BPTT chunk length")
    p.add_argument("--batch-size", type=bounded(int, 1, 65536))
    p.add_argument("--lr", type=bounded(float, 1e-8, 10.0))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-minutes", type=bounded(float, 0.01, 100000.0))
    budget.add_argument("--max-steps", type=bounded(int, 1, 10**9))
    p.add_argument("--valid-fraction", type=bounded(float, 0.001, 0.5), default=0.1)
    p.add_argument("--out", type=Path, default=Path("runs/lm"), help="checkpoint directory")
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-length", type=bounded(int, 0, 10**6), default=500)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train_lm)


def add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="generate text from a trained language model",
        description="Feed --prime through the model, then sample --length characters.",
        epilog=EPILOG_SAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    p.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    p.add_argument("--length", type=bounded(int, 0, 10**7), default=500)
    p.add_argument("--temperature", type=bounded(float, 0.0, 100.0), default=0.8)
    p.add_argument("--top-k", type=bounded(int, 1, 10**6))
    p.add_argument("--top-p", type=bounded(float, 0.0, 1.0, open_high=False))
    p.add_argument("--seed", type=int)
    p.set_defaults(run=run_sample)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser("train", help="train a model for a task")
    add_train_lm(train.add_subparsers(dest="task", required=True, parser_class=OneLineParser))
    add_sample(commands)
    return parser


def run_train_lm(args: argparse.Namespace) -> None:
    from rnnkit.data.text import bundled_text, read_text
    from rnnkit.training.language_modeling import train_char_lm
    from rnnkit.training.presets import LM_PRESETS
    from rnnkit.training.trainer import TrainConfig

    model_fields, train_fields, _ = LM_PRESETS[args.preset]
    model_fields = dict(model_fields)
    train_fields = dict(train_fields)
    for name in ("cell", "hidden_size", "num_layers", "dropout"):
        if getattr(args, name) is not None:
            model_fields[name] = getattr(args, name)
    for name in ("bptt", "batch_size", "lr"):
        if getattr(args, name) is not None:
            train_fields[name] = getattr(args, name)
    if args.max_minutes is not None or args.max_steps is not None:
        train_fields["max_minutes"], train_fields["max_steps"] = args.max_minutes, args.max_steps
    train_fields["seed"] = args.seed
    if (args.out / "config.json").exists() and not args.overwrite:
        raise UsageError(
            f"{args.out} already holds a checkpoint; pass --overwrite or another --out"
        )
    text = read_text(args.text) if args.text is not None else bundled_text()
    run = train_char_lm(
        text,
        model_fields,
        TrainConfig(**train_fields),
        args.out,
        valid_fraction=args.valid_fraction,
        progress=not args.no_progress,
    )
    print(
        f"best validation: {run.best_valid_nats:.4f} nats/char "
        f"({run.best_valid_nats / 0.6931471805599453:.4f} bits/char) after {run.steps} steps, "
        f"wall time {run.wall_seconds / 60:.1f} min; checkpoint: {run.out_dir}"
    )
    if args.sample_length:
        vocab = run.model.vocab
        prime = "\n" if "\n" in vocab.stoi else vocab.itos[1]
        print("--- sample ---")
        print(generate(run.model, prime, args.sample_length, temperature=0.8, seed=args.seed))


def generate(
    model,
    prime: str,
    length: int,
    *,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """Prime text + ``length`` sampled characters from a language model."""
    from rnnkit.decoding.sampling import sample_sequence

    ids = model.vocab.encode(prime, strict=True)[None]  # (1, P)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    out = sample_sequence(
        model.step,
        ids,
        length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=generator,
    )
    return prime + model.vocab.decode(out[0])


def run_sample(args: argparse.Namespace) -> None:
    from rnnkit.tasks.language_model import LanguageModel

    model = LanguageModel.from_pretrained(args.checkpoint)
    if model.vocab is None:
        raise UsageError(f"{args.checkpoint}: checkpoint has no vocabulary to sample with")
    if not args.prime:
        raise UsageError("--prime must not be empty")
    try:
        text = generate(
            model,
            args.prime,
            args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
        )
    except RnnkitError as e:
        raise UsageError(f"--prime: {e}") from None
    print(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except RnnkitError as e:
        print(f"rnnkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted; the best checkpoint so far is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
