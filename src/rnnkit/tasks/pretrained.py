"""Checkpoint directories: ``config.json`` + ``model.safetensors``; loading never unpickles.

Every file is written to a temporary name, fsync'ed and renamed into place
(:mod:`rnnkit.durable`), so a crash, a power cut or a full disk never leaves a half-written
checkpoint where a good one stood.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import MISSING, asdict
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from rnnkit.checks import check_regular_file
from rnnkit.durable import atomic_write, atomic_write_all
from rnnkit.errors import CheckpointError
from rnnkit.tasks.fields import FieldError, check_fields

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
        check_regular_file(path, "a JSON file")  # a named pipe would block the read
    except (FileNotFoundError, ValueError) as e:
        if isinstance(e, ValueError):
            raise CheckpointError(str(e)) from None
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


def check_model_fields(config_cls: type, given: Any) -> dict[str, Any]:
    """``config.json``'s ``model`` checked against its dataclass (:func:`check_fields`); a
    field with a default may be missing (a checkpoint saved before the field existed)."""
    fields = check_fields(config_cls, given, where="model", partial=True)
    required = [f.name for f in dataclasses.fields(config_cls)
                if f.init and f.default is MISSING and f.default_factory is MISSING]  # fmt: skip
    if missing := [name for name in required if name not in fields]:
        raise FieldError(f"field model.{missing[0]}: missing")
    try:
        config_cls(**fields)
    except (TypeError, ValueError) as e:
        raise FieldError(f"field model: {e}") from None
    return fields


def size_problem(field: str, found: int, what: str, size_field: str, size: int) -> str | None:
    """``field X: N what, but model.Y is M`` when an extra's size contradicts the model's."""
    if found == size:
        return None
    return f"field {field}: {found} {what}, but model.{size_field} is {size}"


def weight_shapes(directory: str | Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{name: (shape, dtype)}`` of ``model.safetensors`` from its header alone (no tensor is
    read), with one-line errors."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        with safe_open(path, "pt") as f:
            slices = {name: f.get_slice(name) for name in f.keys()}  # noqa: SIM118 (no __iter__)
            return {k: (tuple(s.get_shape()), s.get_dtype()) for k, s in slices.items()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt weights file ({e})") from None


def check_weights_fit(skeleton: torch.nn.Module, directory: str | Path) -> None:
    """The tensors ``config.json`` implies (``skeleton``: the model built on the meta device,
    so nothing is allocated) against those ``model.safetensors``'s header lists: a config
    edited to a huge size is refused before the real model would allocate it.

    Raises:
        CheckpointError: a missing or extra tensor, or one of another shape or kind of dtype.
    """
    path = Path(directory) / WEIGHTS_NAME
    saved = weight_shapes(directory)
    implied = {k: (tuple(v.shape), v.dtype) for k, v in skeleton.state_dict().items()}
    if missing := sorted(set(implied) - set(saved)):
        raise CheckpointError(f"{path}: tensor {missing[0]}: missing ({CONFIG_NAME} implies it)")
    if extra := sorted(set(saved) - set(implied)):
        raise CheckpointError(f"{path}: tensor {extra[0]}: not part of the model "
                              f"{CONFIG_NAME} describes")  # fmt: skip
    for name, (shape, dtype) in implied.items():
        found, kind = saved[name]
        if found != shape:
            raise CheckpointError(f"{path}: tensor {name}: shape {found}, but {CONFIG_NAME} "
                                  f"implies {shape}")  # fmt: skip
        if _dtype_kind(kind) != _dtype_kind(dtype):
            raise CheckpointError(f"{path}: tensor {name}: dtype {kind}, expected {dtype}")


def _dtype_kind(dtype: str | torch.dtype) -> str:
    """``"float"``, ``"int"`` or ``"bool"``: a model loads any width of its kind."""
    name = str(dtype).removeprefix("torch.").upper()
    if name in ("BOOL",):
        return "bool"
    return "float" if name.startswith(("F", "BF")) else "int"


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
    #: the config dataclass ``config.json``'s ``model`` is checked against, field by field
    CONFIG: ClassVar[type | None] = None
    config: Any

    def checkpoint_extras(self) -> dict[str, Any]:
        """What ``config.json`` holds besides ``format``, ``model`` and ``training``."""
        return {}

    def extras_problem(self) -> str | None:
        """What of ``config.json`` besides ``model`` (vocabularies, labels) contradicts the
        model's sizes, as ``field X: why``; None if nothing (checked on load)."""
        return None

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
        if cls.CONFIG is not None:
            try:
                raw = {**raw, "model": check_model_fields(cls.CONFIG, raw.get("model"))}
            except FieldError as e:
                raise CheckpointError(f"{where}: {e}") from None
        try:
            with torch.device("meta"):  # shapes only: checked against the weights' header first
                skeleton = cls._from_config(raw, where)
        except (NotImplementedError, RuntimeError):  # a model whose init needs real values
            skeleton = None  # its shapes are checked after it is built (load_state)
        if skeleton is not None:
            check_weights_fit(skeleton, directory)
        model = cls._from_config(raw, where)
        if (problem := model.extras_problem()) is not None:
            raise CheckpointError(f"{where}: {problem}")
        load_state(model, directory)
        return model.to(map_location).eval()

    @classmethod
    def _from_config(cls, raw: dict[str, Any], where: Path) -> Pretrained:
        """:meth:`from_checkpoint_config` with its errors as one line naming ``config.json``."""
        try:
            return cls.from_checkpoint_config(raw)
        except KeyError as e:
            raise CheckpointError(f"{where}: field {e.args[0]}: missing") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{where}: invalid model config ({e})") from None
