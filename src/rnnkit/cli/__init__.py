"""The ``rnnkit`` command line: parses arguments, builds configs, calls the jobs in ``apps``.

One module per command, each with ``add_parser(subparsers)`` that registers it:
``train_lm`` (``rnnkit train lm``), ``sample``, and any of the others that exist. Options come
from the config dataclasses (:mod:`rnnkit.cli.options`); what every command shares is in
:mod:`rnnkit.cli.common`. Every user error (bad file, bad option, bad checkpoint) is one line
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from rnnkit.cli.common import OneLineParser, one_line
from rnnkit.errors import RnnkitError

__all__ = ["COMMANDS", "TRAIN_COMMANDS", "build_parser", "main"]

#: modules of the ``rnnkit train <task>`` sub-commands, registered under ``train``
TRAIN_COMMANDS = (
    "train_lm", "train_classify", "train_tag", "train_seq2seq", "train_sort", "train_digits",
    "train_longrange",
)  # fmt: skip
#: modules of the top-level commands
COMMANDS = (
    "sample", "classify", "tag", "translate", "sort", "evaluate", "plot", "inspect", "serve",
    "export",
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
    """Run one command; returns the exit status (2: a user error, printed as one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):  # `rnnkit` or `rnnkit train` alone: say what there is
        args.help_of.print_help(sys.stderr)
        return 2
    try:
        args.run(args)
    except RnnkitError as e:
        print(f"rnnkit: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted; the best checkpoint so far is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`rnnkit tag ... | head`): not an error
        sys.stderr.close()
        return 0
    except OSError as e:  # a path the system refuses (too long, under a file, no space...)
        where = f"{e.filename}: " if e.filename is not None else ""
        print(f"rnnkit: error: {one_line(f'{where}{e.strerror or e}')}", file=sys.stderr)
        return 2
    return 0
