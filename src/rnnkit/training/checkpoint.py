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

import importlib
import json
import math
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
    if "nt_asgd" in meta:  # states saved before EMA joined NT-ASGD under one name
        meta["averaging"] = meta.pop("nt_asgd")
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


# -- checking a saved state before loading it -----------------------------------------


class StateFieldError(ValueError):
    """A field of a saved trainer state that cannot be loaded (``str``: ``field X: why``)."""

    def __init__(self, label: str, why: str) -> None:
        super().__init__(f"field {label}: {why}")


def check_state(
    state: dict[str, Any],
    reference: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    *,
    where: str | Path,
) -> None:
    """Check a saved trainer state field by field before anything of it is loaded.

    ``reference`` is the ``state_dict()`` of the trainer about to load it: each section must
    have its keys and the JSON types of its values (counters: integers >= 0); the optimizer's
    groups and tensors must fit ``optimizer``'s parameters; RNG states are tried on scratch
    generators, never the global ones; the step matches the directory's name.

    Raises:
        CheckpointError: one line, ``FILE: field X: what is wrong``.
    """
    where = Path(where)
    meta, tensors = state["meta"], state["tensors"]
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    try:
        _check_meta(meta, reference["meta"], where)
    except StateFieldError as e:
        raise CheckpointError(f"{where / META_NAME}: {e}") from None
    try:
        _check_tensors(tensors, meta, parameters)
    except StateFieldError as e:
        raise CheckpointError(f"{where / TENSORS_NAME}: {e}") from None


#: sections whose reference value says nothing of the saved one (checked apart, or optional)
_APART = (
    "config",
    "lr",
    "best_valid",
    "hidden",
    "optimizer",
    "global_rng",
    "grad_scaler",
    "averaging",
)


def _check_meta(meta: dict[str, Any], reference: dict[str, Any], where: Path) -> None:
    """``trainer.json``'s fields: like the reference's, then what types cannot say."""
    _check_like(meta, {"format": FORMAT, **reference}, "", skip=_APART)
    if not isinstance(meta["config"], dict):
        raise StateFieldError("config", f"expected an object, got {_json_type(meta['config'])}")
    if (m := _STEP_DIR.match(where.name)) and meta["step"] != int(m[1]):
        raise StateFieldError("step", f"{meta['step']} in a directory named {where.name}")
    for name in ("elapsed_s", "lr"):
        if not _is_finite(meta[name]) or meta[name] < 0:
            raise StateFieldError(name, f"expected a finite number >= 0, got {meta[name]!r:.40}")
    for section, name in ((None, "best_valid"), ("schedule", "best"), ("early_stopping", "best")):
        best = meta[name] if section is None else meta[section][name]
        if best is not None and not _is_finite(best):  # null: no validation yet
            label = name if section is None else f"{section}.{name}"
            raise StateFieldError(label, f"expected null or a finite number, got {best!r:.40}")
    if meta["world_size"] != reference["world_size"]:
        raise StateFieldError("world_size", f"saved by {meta['world_size']} processes; resume "
                              f"with the same number, not {reference['world_size']}")  # fmt: skip
    _check_like(meta["global_rng"], reference["global_rng"], "global_rng", skip=("python",))
    _check_python_rng(meta["global_rng"]["python"], "global_rng.python")
    _check_numpy_rng(meta["global_rng"]["numpy"])
    if isinstance(meta["data"], dict) and "window_rng" in meta["data"]:
        _check_python_rng(meta["data"]["window_rng"], "data.window_rng")
    _check_optimizer_meta(meta["optimizer"], reference["optimizer"])
    _check_hidden_structure(meta["hidden"], "hidden")


def _check_like(saved: Any, ref: Any, label: str, *, skip: tuple[str, ...] = ()) -> None:
    """``saved`` has the JSON shape of ``ref``: the same keys, types and list lengths (a
    reference ``None`` is optional and says nothing); integers are counters, so >= 0."""
    if ref is None:
        return
    name = label or "(top level)"
    if isinstance(ref, dict):
        if not isinstance(saved, dict):
            raise StateFieldError(name, f"expected an object, got {_json_type(saved)}")
        if missing := [k for k in ref if k not in saved]:
            raise StateFieldError(_join(label, missing[0]), "missing")
        if unknown := sorted(set(saved) - set(ref), key=str):
            raise StateFieldError(_join(label, unknown[0]), f"unknown (valid: {', '.join(ref)})")
        for key, value in ref.items():
            if key not in skip:
                _check_like(saved[key], value, _join(label, key))
    elif name.endswith("lr"):  # a learning rate: the schedule makes an integer a float
        if not _is_finite(saved):
            raise StateFieldError(name, f"expected a finite number, got {saved!r:.40}")
    elif isinstance(ref, (list, tuple)):  # JSON's lists are tuples in a live state (betas)
        if not isinstance(saved, list):
            raise StateFieldError(name, f"expected a list, got {_json_type(saved)}")
        if len(saved) == len(ref):
            for i, (s, r) in enumerate(zip(saved, ref, strict=True)):
                _check_like(s, r, f"{label}[{i}]")
    elif isinstance(ref, bool):
        if not isinstance(saved, bool):
            raise StateFieldError(name, f"expected true or false, got {saved!r:.40}")
    elif isinstance(ref, int):
        if not (isinstance(saved, int) and not isinstance(saved, bool)) or saved < 0:
            raise StateFieldError(name, f"expected an integer >= 0, got {saved!r:.40}")
    elif isinstance(ref, float):
        if not _is_finite(saved):
            raise StateFieldError(name, f"expected a finite number, got {saved!r:.40}")
    elif isinstance(ref, str) and not isinstance(saved, str):
        raise StateFieldError(name, f"expected a string, got {_json_type(saved)}")


def _check_python_rng(value: Any, label: str) -> None:
    """A ``random.getstate()`` as JSON, tried on a scratch generator."""
    try:
        random.Random().setstate(python_rng_from_json(value))
    except (TypeError, ValueError, OverflowError):
        raise StateFieldError(label, "not a Python RNG state (version, 625 words, gauss)") from None


def _check_numpy_rng(value: dict[str, Any]) -> None:
    """NumPy's global RNG state as JSON, tried on a scratch generator."""
    try:
        state = {
            **value,
            "state": {**value["state"], "key": np.array(value["state"]["key"], dtype=np.uint32)},
        }
        np.random.RandomState().set_state(state)
    except (TypeError, ValueError, OverflowError, LookupError):  # a short key: IndexError
        raise StateFieldError("global_rng.numpy", "not a NumPy RNG state") from None


def _check_optimizer_meta(saved: Any, ref: dict[str, Any]) -> None:
    """The optimizer's groups are this optimizer's: same count, options and parameters."""
    _check_like(saved, {"param_groups": [], "values": {}}, "optimizer", skip=("values",))
    if not isinstance(saved["values"], dict):  # its keys are parameter indices, checked below
        raise StateFieldError(
            "optimizer.values", f"expected an object, got {_json_type(saved['values'])}"
        )
    groups, mine = saved["param_groups"], ref["param_groups"]
    if len(groups) != len(mine):
        raise StateFieldError(
            "optimizer.param_groups",
            f"{len(groups)} groups; this model's optimizer has {len(mine)}",
        )
    for i, (group, own) in enumerate(zip(groups, mine, strict=True)):
        label = f"optimizer.param_groups[{i}]"
        _check_like(group, {**own, "params": []}, label)  # None options (foreach) stay open
        if group["params"] != own["params"]:
            raise StateFieldError(
                f"{label}.params",
                f"does not match this model's parameters "
                f"(expected {len(own['params'])} indices in order)",
            )
    count = sum(len(g["params"]) for g in mine)
    for index, entries in saved["values"].items():
        label = f"optimizer.values.{index}"
        if not (index.isdigit() and int(index) < count):
            raise StateFieldError(label, f"no such parameter (the model has {count})")
        if not isinstance(entries, dict):
            raise StateFieldError(label, f"expected an object, got {_json_type(entries)}")


def _check_hidden_structure(node: Any, label: str) -> None:
    """What :func:`~rnnkit.cells.state.flatten_state` writes: null, "tensor" or a tuple/list
    (of rnnkit's own NamedTuples, by name) of those."""
    if node is None or node == "tensor":
        return
    if not (isinstance(node, dict) and set(node) == {"type", "items"}
            and isinstance(node["items"], list) and isinstance(node["type"], str)):  # fmt: skip
        raise StateFieldError(label, f"not a recurrent state's layout: {node!r:.60}")
    kind = node["type"]
    if kind not in ("tuple", "list") and not _is_rnnkit_class(kind):
        raise StateFieldError(f"{label}.type", f"unknown state type {kind!r:.60}")
    for i, item in enumerate(node["items"]):
        _check_hidden_structure(item, f"{label}.items[{i}]")


def _is_rnnkit_class(kind: str) -> bool:
    """``"rnnkit.module:Name"`` naming a class of rnnkit (nothing outside it is imported)."""
    module, _, name = kind.partition(":")
    if not module.startswith("rnnkit.") or not name.isidentifier():
        return False
    try:
        return isinstance(getattr(importlib.import_module(module), name), type)
    except (ImportError, AttributeError):
        return False


def _count_tensors(node: Any) -> int:
    if node == "tensor":
        return 1
    return sum(map(_count_tensors, node["items"])) if isinstance(node, dict) else 0


_TENSOR_NAME = re.compile(r"^(?:rng\.torch\.(\d+)|hidden\.(\d+)\.(\d+)|(?:nt_asgd|ema)\.(\d+)"
                          r"|optimizer\.(\d+)\.(\w+))$")  # fmt: skip


def _check_tensors(tensors: dict[str, Tensor], meta: dict[str, Any], params: list) -> None:
    """``trainer.safetensors``: RNG states that load, carried state matching its layout,
    optimizer and averaging tensors shaped like their parameters."""
    world = meta["world_size"]
    for rank in range(world):
        _check_torch_rng(tensors.get(f"rng.torch.{rank}"), f"rng.torch.{rank}")
    hidden = _count_tensors(meta["hidden"])
    for name in sorted(tensors):
        m = _TENSOR_NAME.match(name)
        if m is None:
            raise StateFieldError(name, "unknown tensor")
        t = tensors[name]
        if m[1] is not None and int(m[1]) >= world:
            raise StateFieldError(name, f"a state of rank {m[1]} in a run of {world} processes")
        if m[2] is not None and (int(m[2]) >= world or int(m[3]) >= hidden):
            raise StateFieldError(name, f"not in the carried state's layout ({hidden} tensors "
                                  f"per rank, {world} ranks)")  # fmt: skip
        if m[2] is not None and not t.is_floating_point():
            raise StateFieldError(name, f"expected a floating-point tensor, got {t.dtype}")
        index = m[4] or m[5]
        if index is not None:
            _check_like_parameter(name, t, params, int(index))
    for rank in range(world):
        for i in range(hidden):
            if f"hidden.{rank}.{i}" not in tensors:
                raise StateFieldError(f"hidden.{rank}.{i}", "missing (the layout in trainer.json "
                                      f"has {hidden} tensors)")  # fmt: skip
    _check_optimizer_keys(tensors, meta["optimizer"]["values"])


def _check_torch_rng(t: Tensor | None, label: str) -> None:
    """A torch CPU generator's state, tried on a scratch generator."""
    if t is None:
        raise StateFieldError(label, "missing")
    try:
        torch.Generator().set_state(t)
    except (TypeError, RuntimeError):
        raise StateFieldError(label, f"not a torch RNG state ({t.dtype}, {tuple(t.shape)}; "
                              f"expected torch.uint8, {tuple(torch.get_rng_state().shape)})"
                              ) from None  # fmt: skip


def _check_like_parameter(name: str, t: Tensor, params: list, index: int) -> None:
    """An optimizer or averaging tensor: a float scalar (a step count) or the parameter's
    shape."""
    if index >= len(params):
        raise StateFieldError(name, f"no parameter {index} (the model has {len(params)})")
    shape = tuple(params[index].shape)
    if not t.is_floating_point():
        raise StateFieldError(name, f"expected a floating-point tensor, got {t.dtype}")
    scalar_ok = name.startswith("optimizer.")
    if tuple(t.shape) != shape and not (scalar_ok and t.dim() == 0):
        raise StateFieldError(name, f"shape {tuple(t.shape)}; parameter {index} has {shape}")


def _check_optimizer_keys(tensors: dict[str, Tensor], values: dict[str, dict]) -> None:
    """Every parameter with optimizer state has the same entries (Adam: step, exp_avg,
    exp_avg_sq): a dropped one would fail in the first update."""
    keys: dict[int, set[str]] = {}
    for name in tensors:
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            keys.setdefault(int(index), set()).add(key)
    for index, entries in values.items():
        keys.setdefault(int(index), set()).update(entries)
    if not keys:
        return
    first = min(keys)
    for index, found in sorted(keys.items()):
        if found != keys[first]:
            missing = sorted(keys[first] ^ found)[0]
            raise StateFieldError(f"optimizer.{index}.{missing}", "missing or extra: parameter "
                                  f"{first} has {', '.join(sorted(keys[first]))}")  # fmt: skip


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _join(label: str, key: Any) -> str:
    return f"{label}.{key}" if label else str(key)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             type(None): "null", int: "a number", float: "a number"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


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
