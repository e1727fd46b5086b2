"""Resumable trainer checkpoints: safetensors + JSON, written atomically, never pickled.

Layout of ``OUT/trainer_state/``::

    run.json                      how the run was started (written by the caller, e.g. the CLI)
    step-000500/                  one directory per saved step; the last ``keep_last`` are kept
        config.json               the model, loadable as any checkpoint
        model.safetensors
        trainer.safetensors       optimizer tensors, torch RNG state and carried hidden state
        trainer.json              everything else: step, data position, schedules, RNG states

A step directory is written under a temporary name, fsync'ed (files and directory) and
renamed into place, and the parent directory is fsync'ed after the rename
(:func:`rnnkit.durable.publish_dir`), so a crash or power cut at any moment leaves only
complete step directories (plus a temporary one that is ignored and cleared). A write that
fails (disk full) raises a one-line :class:`~rnnkit.durable.WriteError` and leaves the
earlier steps as they were. Resuming picks the newest complete one.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from rnnkit.durable import WRITE_ERRORS, publish_dir, write_failed
from rnnkit.errors import CheckpointError
from rnnkit.tasks.pretrained import read_json, write_json

STATE_DIR = "trainer_state"
FORMAT = "rnnkit.trainer_state/1"
TENSORS_NAME = "trainer.safetensors"
META_NAME = "trainer.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dirs(out_dir: str | Path) -> list[Path]:
    """Complete step directories under ``OUT/trainer_state``, oldest first."""
    root = Path(out_dir) / STATE_DIR
    if not root.is_dir():
        return []
    found = [(int(m[1]), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def clear_states(out_dir: str | Path) -> None:
    """Remove every step directory and leftover temporary directory (a fresh run starts)."""
    root = Path(out_dir) / STATE_DIR
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and (_STEP_DIR.match(p.name) or p.name.startswith(".step-")):
                shutil.rmtree(p)


def _clear_temporaries(root: Path) -> None:
    """Remove the temporary step directories of writes that a crash cut short."""
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(".step-"):
            shutil.rmtree(p, ignore_errors=True)


def save_state_dir(
    out_dir: str | Path,
    step: int,
    *,
    write_model: Callable[[Path], Any],
    tensors: dict[str, Tensor],
    meta: dict[str, Any],
    keep_last: int,
) -> Path:
    """Atomically write ``OUT/trainer_state/step-NNNNNN/``; keep only the newest ``keep_last``."""
    root = Path(out_dir) / STATE_DIR
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    final = root / name
    _clear_temporaries(root)  # what writes killed mid-way left behind
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
    try:
        try:
            _write_step(tmp, write_model, tensors, meta)
        except WRITE_ERRORS as e:
            kept = "the previous checkpoints are kept" if step_dirs(out_dir) else "none is saved"
            raise write_failed(final, e, kept) from None
        publish_dir(tmp, final)  # replaces a step saved before by a run later resumed earlier
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    for old in step_dirs(out_dir)[:-keep_last]:
        shutil.rmtree(old)
    return final


def _write_step(
    tmp: Path, write_model: Callable[[Path], Any], tensors: dict[str, Tensor], meta: dict
) -> None:
    """The step directory's files, under its temporary name."""
    write_model(tmp)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp / TENSORS_NAME)
    (tmp / META_NAME).write_text(json.dumps(meta, indent=1, allow_nan=False), "utf-8")


def load_state_dir(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read ``trainer.safetensors`` and ``trainer.json`` of a step directory (one-line errors)."""
    try:
        tensors = load_file(path / TENSORS_NAME)
        meta = json.loads((path / META_NAME).read_text("utf-8"))
    except (OSError, SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable trainer state ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path / META_NAME}: not an rnnkit trainer state")
    return tensors, meta


# -- RNG states ---------------------------------------------------------------------


def python_rng_to_json(state: tuple) -> list:
    """``random.getstate()`` -> JSON (version, 625 ints, gauss_next)."""
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def python_rng_from_json(data: list) -> tuple:
    version, internal, gauss_next = data
    return (version, tuple(internal), gauss_next)


def global_rng_meta() -> dict[str, Any]:
    """Python's and NumPy's global RNG states as JSON (torch's goes in safetensors)."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return {"python": python_rng_to_json(random.getstate()), "numpy": numpy_state}


def restore_global_rng(meta: dict[str, Any]) -> None:
    random.setstate(python_rng_from_json(meta["python"]))
    numpy_state = dict(meta["numpy"])
    numpy_state["state"] = {
        **numpy_state["state"],
        "key": np.array(numpy_state["state"]["key"], dtype=np.uint32),
    }
    np.random.set_state(numpy_state)


# -- optimizer ------------------------------------------------------------------------


def optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (``optimizer.{param}.{key}``) and JSON."""
    sd = optimizer.state_dict()
    tensors, values = {}, {}
    for index, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                values.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "values": values}


def optimizer_from_files(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_to_files`: load into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, entries in meta["values"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
        for g in meta["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# -- run records ------------------------------------------------------------------------

RUN_NAME = "run.json"


def save_run_record(
    out_dir: str | Path, job: str, record: dict[str, Any], *, version: int = 1
) -> Path:
    """Write how a ``job`` run (``lm``, ``classify``, ``tag``) was started: ``OUT/trainer_state/
    run.json``, so ``--resume OUT`` needs nothing else."""
    path = Path(out_dir) / STATE_DIR / RUN_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"format": f"rnnkit.{job}_run/{version}", **record})
    return path


def load_run_record(out_dir: str | Path, job: str, *, version: int = 1) -> dict[str, Any]:
    """Read the record :func:`save_run_record` wrote for ``job``, with one-line errors (a
    record of another job or of another layout version); :mod:`rnnkit.apps.runs` checks the
    fields."""
    path = Path(out_dir) / STATE_DIR / RUN_NAME
    if not Path(out_dir).is_dir():
        raise CheckpointError(f"{out_dir}: no such run directory")
    record = read_json(path, "not a resumable rnnkit run")
    if not isinstance(record, dict):
        raise CheckpointError(f"{path}: not an rnnkit run record")
    found, want = record.get("format"), f"rnnkit.{job}_run/{version}"
    if found != want:
        if isinstance(found, str) and found.startswith(f"rnnkit.{job}_run/"):
            raise CheckpointError(f"{path}: field format: {found!r} is a layout this rnnkit "
                                  f"does not resume (it reads {want!r}); start the run again")
        raise CheckpointError(f"{path}: field format: not an rnnkit `train {job}` run "
                              f"(expected {want!r}, got {found!r:.60})")  # fmt: skip
    return record
