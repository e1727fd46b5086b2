"""``rnnkit train lm``: a character-level language model (:mod:`rnnkit.apps.language_model`).

The architecture and training options come from ``LanguageModelConfig`` and ``TrainConfig``
(:mod:`rnnkit.cli.options`); an option not given keeps the ``--preset``'s value.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.apps.language_model import LM_PRESETS
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
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

EPILOG = """examples:
  rnnkit train lm                                  # default preset on the bundled Shakespeare
  rnnkit train lm --preset quick --out runs/quick  # two minutes, a first look
  rnnkit train lm --text novel.txt --cell gru --hidden-size 512 --max-minutes 30
  rnnkit train lm --schedule cosine --warmup-steps 200 --out runs/cosine
  rnnkit train lm --resume runs/lm                 # continue a killed (or finished) run exactly
  torchrun --standalone --nproc_per_node 2 -m rnnkit.cli train lm --out runs/ddp   # 2 processes
"""
#: what --resume DIR still accepts: the budget and how the result is shown
RESUME_OPTIONS = ("max_steps", "max_minutes", "no_progress", "sample_length")
NOT_RECORDED = ("run", "command", "task", "resume", "overwrite", "no_progress", "sample_length")


def add_parser(subparsers: argparse._SubParsersAction) -> OneLineParser:
    """Register ``lm`` under ``rnnkit train``."""
    presets = "\n".join(f"  {n:8s} {d}" for n, (_, _, d) in LM_PRESETS.items())
    p = subparsers.add_parser(
        "lm",
        help="train a character-level language model",
        description="Train a character-level language model and print a sample from it.",
        epilog=f"{EPILOG}\npresets:\n{presets}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--text", type=Path, help="UTF-8 text file (default: bundled tinyshakespeare)")
    p.add_argument("--preset", choices=sorted(LM_PRESETS), default="default")
    p.add_argument("--valid-fraction", type=bounded(float, 0.001, 0.5), default=0.1)
    p.add_argument("--sample-length", type=bounded(int, 0, 10**6), default=500)
    add_run_options(p, "runs/lm")
    add_config_options(p.add_argument_group("model (default: the preset's)"), LanguageModelConfig)
    add_training_options(p)
    p.set_defaults(run=run_train_lm)
    return p


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
    merged["text"] = Path(saved["text"]) if saved.get("text") else None
    merged["out"] = args.resume
    return argparse.Namespace(**merged)


def recorded_options(args: argparse.Namespace) -> dict:
    """The options to store in run.json so that --resume can start the same run again."""
    options = {k: v for k, v in vars(args).items() if k not in NOT_RECORDED}
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    options["text"] = str(args.text.resolve()) if args.text is not None else None
    return options


def run_train_lm(args: argparse.Namespace) -> None:
    from rnnkit.apps.language_model import generate, train_char_lm
    from rnnkit.data.text import SHAKESPEARE, bundled_text, read_text

    resume = args.resume is not None
    if resume:
        args = resumed_arguments(args)
    model_fields, preset_train_fields, _ = LM_PRESETS[args.preset]
    model_fields = {**model_fields, **config_overrides(args, LanguageModelConfig)}
    config, notes = train_config(args, preset_train_fields, metrics=LanguageModel.METRICS)
    if not resume:
        check_out_free(args.out, overwrite=args.overwrite)
    text = read_text(args.text) if args.text is not None else bundled_text()
    with process_group() as workers:
        if workers.is_main:
            for note in notes:
                print(note, file=sys.stderr)
        run = train_char_lm(
            text,
            model_fields,
            config,
            args.out,
            valid_fraction=args.valid_fraction,
            progress=not args.no_progress,
            resume=resume,
            cli_options=recorded_options(args),
            source=str(args.text) if args.text is not None else f"bundled {SHAKESPEARE}",
        )
    if not workers.is_main:
        return
    resumed = f" (resumed from step {run.resumed_from})" if run.resumed_from else ""
    print(
        f"best validation: {run.best_valid_nats:.4f} nats/char "
        f"({run.best_valid_nats / 0.6931471805599453:.4f} bits/char) after {run.steps} steps"
        f"{resumed}, wall time {run.wall_seconds / 60:.1f} min; checkpoint: {run.out_dir}"
    )
    if args.sample_length:
        vocab = run.model.vocab
        prime = "\n" if "\n" in vocab.stoi else vocab.itos[1]
        print("--- sample ---")
        print(generate(run.model, prime, args.sample_length, temperature=0.8, seed=args.seed))
