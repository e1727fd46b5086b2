"""Checkpoint directories: ``config.json`` + ``model.safetensors``; loading never unpickles.

Every file is written to a temporary name, fsync'ed and renamed into place
(:mod:`rnnkit.durable`), so a crash, a power cut or a full disk never leaves a half-written
checkpoint where a good one stood.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rnnkit.durable import atomic_write, atomic_write_all
from rnnkit.errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: a lone surrogate (a file name's byte that is not UTF-8, kept by ``os.fsdecode``) has no
#: UTF-8; written as ``\udcff`` it is the JSON escape that reads back as the same character
JSON_ESCAPE = "backslashreplace"


def save_checkpoint(directory: str | Path, config: dict, state_dict: dict) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # clone: tied weights share storage, which safetensors refuses; each key gets its own copy
    tensors = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
    text = json.dumps(config, indent=2, ensure_ascii=False)
    atomic_write_all(  # both on disk before either is renamed: a failed write changes neither
        {
            directory / WEIGHTS_NAME: lambda tmp: save_file(tensors, tmp),
            directory / CONFIG_NAME: lambda tmp: Path(tmp).write_text(text, "utf-8", JSON_ESCAPE),
        }
    )
    return directory


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented UTF-8 JSON, written atomically (see :func:`atomic_write`)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, "utf-8", JSON_ESCAPE))


def load_config(directory: str | Path) -> dict:
    """Read ``config.json`` of a checkpoint directory, with one-line errors."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    return read_json(directory / CONFIG_NAME, "not an rnnkit checkpoint")


def read_json(path: Path, missing: str) -> dict:
    """A JSON object from ``path``; one-line errors (``missing`` says what its absence means)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; {missing}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt JSON ({e})") from None
    except (RecursionError, ValueError):  # nested too deeply; a number of 5,000 digits
        raise CheckpointError(f"{path}: corrupt JSON (too deep, or a huge number)") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


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


class Pretrained(torch.nn.Module):
    """A task model saved as a directory: ``config.json`` (with ``format``) + weights.

    A subclass sets ``FORMAT`` and ``KIND``, keeps its architecture in ``self.config`` (a
    dataclass), and says what else travels with it (vocabularies, labels) in
    :meth:`checkpoint_extras` and how to build itself from ``config.json`` in
    :meth:`from_checkpoint_config`.
    """

    FORMAT: ClassVar[str]
    KIND: ClassVar[str]  # e.g. "language-model", for messages
    config: Any

    def checkpoint_extras(self) -> dict[str, Any]:
        """What ``config.json`` holds besides ``format``, ``model`` and ``training``."""
        return {}

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> Pretrained:
        """The (untrained) model that ``config.json``'s contents describe."""
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path, *, training: dict | None = None) -> Path:
        """Write ``config.json`` (architecture, extras, training config) and the weights."""
        config = {"format": self.FORMAT, "model": asdict(self.config), **self.checkpoint_extras()}
        if training is not None:
            config["training"] = training
        return save_checkpoint(directory, config, self.state_dict())

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, map_location: str = "cpu") -> Any:
        """Load a checkpoint directory written by :meth:`save_pretrained` (eval mode)."""
        raw = load_config(directory)
        where = Path(directory) / CONFIG_NAME
        if raw.get("format") != cls.FORMAT:
            raise CheckpointError(f"{where}: not a {cls.KIND} checkpoint")
        try:
            model = cls.from_checkpoint_config(raw)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: invalid model config ({e})") from None
        load_state(model, directory)
        return model.to(map_location).eval()
