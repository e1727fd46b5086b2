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
  rnnkit train lm --schedule cosine --warmup-steps 200 --out runs/cosine
  rnnkit train lm --resume runs/lm                 # continue a killed (or finished) run exactly
  torchrun --standalone --nproc_per_node 2 -m rnnkit.cli train lm --out runs/ddp   # 2 processes
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
    p.add_argument(
        "--zoneout",
        type=bounded(float, 0.0, 1.0, open_high=True),
        help="zoneout on h and c (Krueger et al. 2017); runs rnnkit's fused/generic loop",
    )
    p.add_argument(
        "--weight-drop",
        type=bounded(float, 0.0, 1.0, open_high=True),
        help="DropConnect on the recurrent weights (Merity et al. 2017)",
    )
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
    add_trainer_options(p)
    p.set_defaults(run=run_train_lm)


def add_trainer_options(p: argparse.ArgumentParser) -> None:
    """Options of the training engine (``TrainConfig``); None means: the preset's value."""
    g = p.add_argument_group("training engine (see docs/training.md)")
    g.add_argument("--optimizer", choices=["adam", "sgd", "rmsprop"], help="default: adam")
    g.add_argument(
        "--momentum",
        type=bounded(float, 0.0, 1.0, open_high=True),
        metavar="M",
        help="SGD momentum",
    )
    g.add_argument("--schedule", choices=["constant", "step", "cosine", "plateau"])
    g.add_argument("--warmup-steps", type=bounded(int, 0, 10**9), metavar="N", help="lr warm-up")
    g.add_argument("--decay-every", type=bounded(int, 1, 10**9), metavar="N", help="step: period")
    g.add_argument("--decay-factor", type=bounded(float, 1e-6, 1.0), metavar="F", help="lr *= F")
    g.add_argument("--min-lr-ratio", type=bounded(float, 0.0, 1.0), metavar="R", help="cosine")
    g.add_argument("--plateau-patience", type=bounded(int, 1, 10**6), metavar="N", help="plateau")
    g.add_argument("--clip-norm", type=bounded(float, 0.0, 1e9), metavar="N", help="0: off")
    g.add_argument("--clip-value", type=bounded(float, 0.0, 1e9), metavar="V", help="0: off")
    g.add_argument("--on-nan", choices=["stop", "skip"], help="NaN/Inf loss: stop or skip batch")
    g.add_argument("--tbptt-k2", type=bounded(int, 1, 100000), metavar="K2", help="<= --bptt")
    g.add_argument("--random-bptt", action="store_true", help="random window lengths (AWD-LSTM)")
    g.add_argument("--eval-every", type=bounded(int, 1, 10**9), metavar="N", help="validation")
    g.add_argument("--patience", type=bounded(int, 1, 10**6), metavar="N", help="early stopping")
    g.add_argument("--log-every", type=bounded(int, 1, 10**9), metavar="N", help="default 10")
    g.add_argument("--save-every", type=bounded(int, 1, 10**9), metavar="N", help="default 500")
    g.add_argument("--keep-last", type=bounded(int, 1, 10**6), metavar="N", help="default 3")
    g.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR")
    g.add_argument(
        "--scheduled-sampling",
        choices=["linear", "exponential", "inverse_sigmoid"],
        help="feed the model its own samples with a decaying teacher-forcing probability",
    )
    g.add_argument("--ss-k", type=bounded(float, 0.0, 1e9), metavar="K", help="schedule's k")
    g.add_argument("--ss-c", type=bounded(float, 0.0, 1.0), metavar="C", help="linear slope")


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


#: TrainConfig fields set by the option of the same name
TRAIN_OPTIONS = (
    "bptt", "batch_size", "lr", "optimizer", "momentum", "schedule", "warmup_steps",
    "decay_every", "decay_factor", "min_lr_ratio", "plateau_patience", "tbptt_k2",
    "eval_every", "patience", "log_every", "save_every", "keep_last",
    "scheduled_sampling", "ss_k", "ss_c",
)  # fmt: skip
#: option -> (TrainConfig field, the value it needs): a hint when an option would do nothing
NEEDS = {
    "momentum": ("optimizer", "sgd"),
    "decay_every": ("schedule", "step"),
    "min_lr_ratio": ("schedule", "cosine"),
    "plateau_patience": ("schedule", "plateau"),
    "ss_c": ("scheduled_sampling", "linear"),
}
#: what --resume DIR still accepts: the budget and how the result is shown
RESUME_OPTIONS = ("max_steps", "max_minutes", "no_progress", "sample_length")
NOT_RECORDED = ("run", "command", "task", "resume", "overwrite", "no_progress", "sample_length")


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def train_config_fields(args: argparse.Namespace, train_fields: dict) -> dict:
    """The preset's TrainConfig fields overridden by the options given."""
    fields = dict(train_fields)
    for name in TRAIN_OPTIONS:
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.max_minutes is not None or args.max_steps is not None:
        fields["max_minutes"], fields["max_steps"] = args.max_minutes, args.max_steps
    if args.clip_norm is not None:
        fields["clip_norm"] = args.clip_norm or None  # 0: off
    if args.clip_value is not None:
        fields["clip_value"] = args.clip_value or None
    if args.on_nan is not None:
        fields["on_nonfinite"] = args.on_nan
    fields["random_bptt"] = args.random_bptt
    fields["seed"] = args.seed
    for name, (field, needed) in NEEDS.items():
        if getattr(args, name) is not None and fields.get(field, "") != needed:
            raise UsageError(f"{option(name)} needs {option(field)} {needed}")
    k2, bptt = fields.get("tbptt_k2"), fields.get("bptt", 100)
    if k2 is not None and k2 > bptt:
        raise UsageError(f"--tbptt-k2 must be in [1, --bptt={bptt}], got {k2}")
    return fields


def resumed_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The options a run was started with (from DIR/trainer_state/run.json), plus the budget."""
    from rnnkit.training.language_modeling import load_run_record

    defaults = vars(build_parser().parse_args(["train", "lm"]))
    fixed = [k for k in vars(args) if k not in (*RESUME_OPTIONS, "resume")]
    given = [k for k in fixed if getattr(args, k) != defaults.get(k)]
    if given:
        allowed = ", ".join(option(k) for k in RESUME_OPTIONS)
        raise UsageError(
            f"--resume continues the run with its own options; drop {option(given[0])} "
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
    from rnnkit.data.text import bundled_text, read_text
    from rnnkit.training.distributed import init_from_environment
    from rnnkit.training.language_modeling import train_char_lm
    from rnnkit.training.presets import LM_PRESETS
    from rnnkit.training.trainer import TrainConfig

    resume = args.resume is not None
    if resume:
        args = resumed_arguments(args)
    model_fields, train_fields, _ = LM_PRESETS[args.preset]
    model_fields = dict(model_fields)
    for name in ("cell", "hidden_size", "num_layers", "dropout", "zoneout", "weight_drop"):
        if getattr(args, name) is not None:
            model_fields[name] = getattr(args, name)
    try:
        config = TrainConfig(**train_config_fields(args, train_fields))
    except ValueError as e:
        raise UsageError(str(e)) from None
    taken = (args.out / "config.json").exists() or (args.out / "trainer_state").exists()
    if taken and not resume and not args.overwrite:
        raise UsageError(
            f"{args.out} already holds a checkpoint; pass --overwrite, --resume {args.out} "
            "or another --out"
        )
    text = read_text(args.text) if args.text is not None else bundled_text()
    workers = init_from_environment()  # torchrun's WORLD_SIZE > 1: join the process group
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
