"""Checkpoint directories: ``config.json`` + ``model.safetensors``; loading never unpickles.

Every file is written to a temporary name and renamed into place, so a crash or a
later failure never leaves a half-written checkpoint where a good one stood.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rnnkit.errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(directory: str | Path, config: dict, state_dict: dict) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # clone: tied weights share storage, which safetensors refuses; each key gets its own copy
    tensors = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp))
    text = json.dumps(config, indent=2, ensure_ascii=False)
    atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text, "utf-8"))
    return directory


def load_config(directory: str | Path) -> dict:
    """Read ``config.json`` of a checkpoint directory, with one-line errors."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    path = directory / CONFIG_NAME
    try:
        config = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; not an rnnkit checkpoint") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return config


def load_weights(directory: str | Path) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` (tensors only, no pickle), with one-line errors."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt weights file ({e})") from None


def load_state(module: torch.nn.Module, directory: str | Path) -> None:
    """Load weights into ``module``, turning key or shape mismatches into a one-line error."""
    state = load_weights(directory)
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        path = Path(directory) / WEIGHTS_NAME
        raise CheckpointError(f"{path}: does not match its config.json ({first})") from None
