"""Where a command may write: the one guard of every option that names a file to write.

A model or run directory is the user's work (hours of training): no command but the training
that owns it writes there, so a plot aimed at ``runs/lm/config.json`` or next to it is refused
before anything runs. Any other existing file is replaced only with ``--overwrite``::

    rnnkit: error: --plot-confusion runs/spam/model.safetensors: inside the model directory
    runs/spam, which only training writes; choose a path outside it
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from pathlib import Path

from rnnkit.checks import check_unicode
from rnnkit.cli.common import UsageError

_CONFIG_BYTES = 1 << 20  # a config.json larger than this is not read to learn its format


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    """``--overwrite`` for a command that writes files (training commands have their own)."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist")  # fmt: skip


def checkpoint_kind(folder: Path) -> str | None:
    """``"model"`` or ``"run"`` when ``folder`` is an rnnkit model or run directory, else None:
    known by their marker files (``model.safetensors`` or an rnnkit ``config.json``; the
    trainer's ``trainer_state/`` or ``metrics.jsonl``)."""
    from rnnkit.tasks.pretrained import CONFIG_NAME, WEIGHTS_NAME
    from rnnkit.training.checkpoint import STATE_DIR
    from rnnkit.training.metrics_log import METRICS_NAME

    if (folder / WEIGHTS_NAME).exists() or _rnnkit_config(folder / CONFIG_NAME):
        return "model"
    if any((folder / name).exists() for name in (STATE_DIR, METRICS_NAME)):
        return "run"
    return None


def _rnnkit_config(path: Path) -> bool:
    """Whether ``path`` is an rnnkit ``config.json`` (its ``format`` starts with ``rnnkit.``);
    another program's config.json does not make a model directory."""
    try:
        if not path.is_file() or path.stat().st_size > _CONFIG_BYTES:
            return False
        config = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and str(config.get("format", "")).startswith("rnnkit.")


def holding_checkpoint(path: Path) -> tuple[Path, str] | None:
    """(directory, kind) of the model or run directory ``path`` is in (or is), if any."""
    where = Path(os.path.realpath(path))  # through links: a link into a checkpoint counts
    for folder in (where, *where.parents):
        if (kind := checkpoint_kind(folder)) is not None:
            return folder, kind
    return None


def check_output(
    path: Path | None, option: str, *, overwrite: bool, training: Path | None = None
) -> None:
    """Refuse, in one line naming ``option`` and ``path``, to write a file ``path``: inside a
    model or run directory (unless it is ``training``, the directory the command trains
    into), over a directory, or over an existing file without ``overwrite``. None: no output."""
    if path is None:
        return
    held = holding_checkpoint(path)
    if held is not None and not _same(held[0], training):
        folder, kind = held
        raise UsageError(f"{option} {path}: inside the {kind} directory {folder}, which only "
                         "training writes; choose a path outside it")  # fmt: skip
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise UsageError(f"{option} {path}: already exists; pass --overwrite to replace it")


def check_outputs(
    paths: Iterable[tuple[Path | None, str]], *, overwrite: bool, training: Path | None = None
) -> None:
    """:func:`check_output` on each (path, option); one file named by two options is refused
    too (the second write would replace the first)."""
    seen: dict[str, str] = {}
    for path, option in paths:
        check_output(path, option, overwrite=overwrite, training=training)
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{option} {path}: the same file as {seen[key]}; give another name")
        seen[key] = option


def check_output_folder(folder: Path, option: str) -> None:
    """A folder a command writes files into: not a model or run directory, nor inside one."""
    held = holding_checkpoint(folder)
    if held is not None:
        raise UsageError(f"{option} {folder}: inside the {held[1]} directory {held[0]}, which "
                         "only training writes; choose a folder outside it")  # fmt: skip
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {folder}: not a directory")


def check_training_out(out: Path) -> None:
    """A fresh run's ``--out``: the directory it trains into may be a checkpoint (the run
    lifecycle asks for ``--overwrite``), but not a folder inside another one; and its name
    must be UTF-8, which safetensors needs of a path (refused now, not at the first save)."""
    try:
        check_unicode("--out", str(out))
    except ValueError:
        raise UsageError(f"--out {out}: the name is not valid UTF-8, and the weights file "
                         "cannot be written there; choose another name") from None  # fmt: skip
    held = holding_checkpoint(out)
    if held is not None and not _same(held[0], out):
        raise UsageError(f"--out {out}: inside the {held[1]} directory {held[0]}; train into "
                         "a directory of its own")  # fmt: skip


def _same(folder: Path, training: Path | None) -> bool:
    return training is not None and folder == Path(os.path.realpath(training))
