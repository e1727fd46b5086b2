"""The ``rnnkit`` command line: parses arguments, builds configs, calls the jobs in ``apps``.

One module per command, each with ``add_parser(subparsers)`` that registers it:
``train_lm`` (``rnnkit train lm``), ``sample``, and any of the others that exist. Options come
from the config dataclasses (:mod:`rnnkit.cli.options`); what every command shares is in
:mod:`rnnkit.cli.common`. Every user error (bad file, bad option, bad checkpoint) is one line
on stderr and exit status 2. An interrupt (Ctrl-C, SIGTERM) is one line too, saying what the
run kept and how to continue it.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from rnnkit.cli.common import OneLineParser, one_line
from rnnkit.errors import Interrupted, RnnkitError

__all__ = ["COMMANDS", "TRAIN_COMMANDS", "build_parser", "main"]

#: modules of the ``rnnkit train <task>`` sub-commands, registered under ``train``
TRAIN_COMMANDS = (
    "train_lm", "train_classify", "train_tag", "train_seq2seq", "train_sort", "train_digits",
    "train_longrange", "train_ctc", "train_frames",
)  # fmt: skip
#: modules of the top-level commands
COMMANDS = (
    "sample", "classify", "tag", "translate", "sort", "evaluate", "plot", "inspect", "serve",
    "export", "recognise", "compose", "transcribe",
)  # fmt: skip


def command_modules(names: Sequence[str]) -> list[ModuleType]:
    """The command modules among ``names`` that exist (a command not written yet is skipped)."""
    modules = []
    for name in names:
        module_name = f"{__name__}.{name}"
        try:
            modules.append(importlib.import_module(module_name))
        except ModuleNotFoundError as e:
            if e.name != module_name:  # the module exists but an import inside it fails
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnkit`` parser with every command module registered."""
    from rnnkit import __version__

    parser = OneLineParser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    train = commands.add_parser("train", help="train a model for a task")
    tasks = train.add_subparsers(dest="task", metavar="TASK", parser_class=OneLineParser)
    parser.set_defaults(help_of=parser)  # no command given: the usage with the command list
    train.set_defaults(help_of=train)
    for module in command_modules(TRAIN_COMMANDS):
        module.add_parser(tasks)
    for module in command_modules(COMMANDS):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (2: a user error, printed as one line;
    128 + the signal: interrupted)."""
    args = None
    for stream in (sys.stdout, sys.stderr):  # a path that is not UTF-8 prints, escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        parser = build_parser()  # imports torch and every command: Ctrl-C here is one line too
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):  # `rnnkit` or `rnnkit train` alone: say what there is
            args.help_of.print_help(sys.stderr)
            return 2
        args.run(args)
    except RnnkitError as e:
        print(f"rnnkit: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"rnnkit: {interrupted(e, args)}", file=sys.stderr)
        return 128 + (e.signum if isinstance(e, Interrupted) else signal.SIGINT)
    except BrokenPipeError:  # the reader went away (`rnnkit tag ... | head`): not an error
        sys.stderr.close()
        return 0
    except OSError as e:  # a path the system refuses (too long, under a file, no space...)
        where = f"{e.filename}: " if e.filename is not None else ""
        print(f"rnnkit: error: {one_line(f'{where}{e.strerror or e}')}", file=sys.stderr)
        return 2
    return 0


def interrupted(error: KeyboardInterrupt, args: argparse.Namespace | None) -> str:
    """What an interrupted command leaves, as it is: for a training run, its resumable state,
    its best model and the command that continues it.

    :class:`Interrupted` comes from the trainer, which saved its state before stopping; a plain
    KeyboardInterrupt (start-up, a second Ctrl-C during the save, the end of a job) is described
    from what is on disk.
    """
    out = run_directory(args)
    if out is None:
        return "interrupted"
    if isinstance(error, Interrupted):
        head, state, best = f"interrupted at step {error.step}", error.state_dir, error.best
        out = state.parent.parent if state else out  # the run saved (train sort: OUT/<model>)
        saved = f"resumable state saved in {state}" if state else "no resumable state saved"
    else:
        head, state, best = "interrupted", newest_state(out), (out / "config.json").is_file()
        saved = f"resumable state kept in {state}" if state else "no resumable state yet"
    kept = f"the best model so far is in {out}" if best else "no best model yet (no validation)"
    line = f"{head}; {saved}; {kept}"
    if not getattr(args, "resumable", True):  # the command regenerates its data each time
        return f"{line}; start it again to train more"
    if (out / "trainer_state" / "run.json").is_file():
        again = "" if state else " (it starts over)"
        task = getattr(args, "task", "")
        line += f"; continue with: rnnkit train {task} --resume {shlex.quote(str(out))}{again}"
    return line


def run_directory(args: argparse.Namespace | None) -> Path | None:
    """The directory of an ``rnnkit train`` run (``--resume DIR`` or ``--out``), else None."""
    if args is None or getattr(args, "command", None) != "train":
        return None
    out = args.resume if getattr(args, "resume", None) is not None else getattr(args, "out", None)
    return Path(out) if out is not None else None


def newest_state(out: Path) -> Path | None:
    """The newest complete ``step-NNNNNN`` directory of ``OUT/trainer_state``, or None.

    Read here rather than through :mod:`rnnkit.training.checkpoint`, which imports torch: an
    interrupt during start-up should not wait for that import.
    """
    found = sorted((out / "trainer_state").glob("step-[0-9]*"))  # zero-padded: sorts by step
    return next((p for p in reversed(found) if p.is_dir()), None)
