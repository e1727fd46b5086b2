"""``rnnkit train lm``: a character-level language model (:mod:`rnnkit.apps.language_model`).

The architecture and training options come from ``LanguageModelConfig`` and ``TrainConfig``
(:mod:`rnnkit.cli.options`); an option not given keeps the ``--preset``'s value.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from rnnkit.apps.language_model import LM_PRESETS
from rnnkit.cli.common import OneLineParser, UsageError, bounded, flag
from rnnkit.cli.options import add_config_options, config_overrides
from rnnkit.tasks.language_model import LanguageModelConfig
from rnnkit.training.config import TrainConfig

EPILOG = """examples:
  rnnkit train lm                                  # default preset on the bundled Shakespeare
  rnnkit train lm --preset quick --out runs/quick  # two minutes, a first look
  rnnkit train lm --text novel.txt --cell gru --hidden-size 512 --max-minutes 30
  rnnkit train lm --schedule cosine --warmup-steps 200 --out runs/cosine
  rnnkit train lm --resume runs/lm                 # continue a killed (or finished) run exactly
  torchrun --standalone --nproc_per_node 2 -m rnnkit.cli train lm --out runs/ddp   # 2 processes
"""
BUDGET = ("max_minutes", "max_steps")  # one or the other; giving one drops the preset's
#: option -> (TrainConfig field, the value it needs; None: any): a hint when an option does nothing
NEEDS = {
    "momentum": ("optimizer", "sgd"),
    "decay_every": ("schedule", "step"),
    "min_lr_ratio": ("schedule", "cosine"),
    "plateau_patience": ("schedule", "plateau"),
    "ss_k": ("scheduled_sampling", None),
    "ss_c": ("scheduled_sampling", "linear"),
}
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
    p.add_argument("--out", type=Path, default=Path("runs/lm"), help="checkpoint directory")
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-length", type=bounded(int, 0, 10**6), default=500)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    model = p.add_argument_group("model (default: the preset's)")
    add_config_options(model, LanguageModelConfig)
    engine = p.add_argument_group("training engine (default: the preset's; see docs/training.md)")
    add_config_options(engine, TrainConfig, skip=BUDGET)
    add_config_options(engine.add_mutually_exclusive_group(), TrainConfig, only=BUDGET)
    engine.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR")
    p.set_defaults(run=run_train_lm)
    return p


def train_config(args: argparse.Namespace, preset: dict) -> tuple[TrainConfig, list[str]]:
    """The preset's TrainConfig overridden by the options given, and notes for the user."""
    given = config_overrides(args, TrainConfig)
    fields = {**preset, **given, "seed": args.seed}
    if any(name in given for name in BUDGET):  # the user's budget replaces the preset's
        fields["max_minutes"], fields["max_steps"] = (
            given.get("max_minutes"),
            given.get("max_steps"),
        )
    for name, (field, needed) in NEEDS.items():
        value = fields.get(field)
        if getattr(args, name, None) is not None and (value is None or needed not in (None, value)):
            raise UsageError(f"{flag(name)} needs {flag(field)}" + (f" {needed}" if needed else ""))
    k2, bptt = fields.get("tbptt_k2"), fields.get("bptt", 100)
    if k2 is not None and k2 > bptt:
        raise UsageError(f"--tbptt-k2 must be in [1, --bptt={bptt}], got {k2}")
    notes = []
    warmup, steps = fields.get("warmup_steps", 0), given.get("max_steps")
    if "warmup_steps" not in given and steps is not None and steps <= warmup:
        fields["warmup_steps"] = steps // 10
        notes.append(
            f"note: --max-steps {steps} is shorter than the preset's {warmup} warm-up steps; "
            f"warm-up set to {steps // 10}"
        )
    try:
        return TrainConfig(**fields), notes
    except ValueError as e:
        raise UsageError(str(e)) from None


def resumed_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The options a run was started with (from DIR/trainer_state/run.json), plus the budget."""
    from rnnkit.apps.language_model import load_run_record
    from rnnkit.cli import build_parser

    defaults = vars(build_parser().parse_args(["train", "lm"]))
    fixed = [k for k in vars(args) if k not in (*RESUME_OPTIONS, "resume")]
    given = [k for k in fixed if getattr(args, k) != defaults.get(k)]
    if given:
        allowed = ", ".join(flag(k) for k in RESUME_OPTIONS)
        raise UsageError(
            f"--resume continues the run with its own options; drop {flag(given[0])} "
            f"(allowed with --resume: {allowed})"
        )
    saved = load_run_record(args.resume).get("cli")
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
    from rnnkit.apps.language_model import METRICS, generate, train_char_lm
    from rnnkit.data.text import SHAKESPEARE, bundled_text, read_text
    from rnnkit.training.distributed import init_from_environment

    resume = args.resume is not None
    if resume:
        args = resumed_arguments(args)
    model_fields, preset_train_fields, _ = LM_PRESETS[args.preset]
    model_fields = {**model_fields, **config_overrides(args, LanguageModelConfig)}
    config, notes = train_config(args, preset_train_fields)
    if config.monitor not in (None, *METRICS):
        raise UsageError(f"--monitor must be {' or '.join(METRICS)}, got {config.monitor!r}")
    taken = (args.out / "config.json").exists() or (args.out / "trainer_state").exists()
    if taken and not resume and not args.overwrite:
        raise UsageError(
            f"{args.out} already holds a checkpoint; pass --overwrite, --resume {args.out} "
            "or another --out"
        )
    text = read_text(args.text) if args.text is not None else bundled_text()
    workers = init_from_environment()  # torchrun's WORLD_SIZE > 1: join the process group
    if workers.is_main:
        for note in notes:
            print(note, file=sys.stderr)
    try:
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
    finally:
        if workers.world_size > 1:
            torch.distributed.destroy_process_group()
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
