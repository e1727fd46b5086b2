"""Records checked field by field against a config dataclass: ``config.json``'s model,
``run.json``'s sections, presets.

A value must have its field's type (JSON's lists become tuples where the field is a tuple),
lie in its command-line option's range and be one of its choices; then the dataclass's own
checks run on the whole. Every problem is one line naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["FieldError", "check_fields"]


class FieldError(ValueError):
    """A field of a record that does not fit its dataclass (the message names the field)."""


def check_fields(
    cls: type,
    given: Any,
    *,
    where: str,
    skip: tuple[str, ...] = (),
    partial: bool = False,
    construct: bool = True,
) -> dict[str, Any]:
    """``given`` checked field by field against dataclass ``cls``; returns the fields.

    Each value must have the field's type (JSON's lists become tuples where the field is a
    tuple), lie in its option's range and be one of its option's choices; then, if
    ``construct``, the dataclass's own checks run on the whole. ``partial``: some fields may be
    missing (a preset); ``skip``: fields left out (a model's sizes).

    Raises:
        FieldError: one line, ``field <where>.<name>: <why>``.
    """
    if not isinstance(given, Mapping):
        raise FieldError(f"field {where}: expected an object, got {_json_type(given)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in skip}
    unknown = sorted(set(given) - set(fields), key=str)
    if unknown:
        raise FieldError(f"field {where}.{unknown[0]}: unknown (valid: {', '.join(fields)})")
    missing = [name for name in fields if name not in given]
    if missing and not partial:
        raise FieldError(f"field {where}.{missing[0]}: missing")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in given.items():
        label = f"{where}.{name}"
        values[name] = _check_value(hints[name], value, label)
        _check_option(fields[name], values[name], label)
    if construct and not partial:
        try:
            cls(**values)
        except (TypeError, ValueError) as e:
            raise FieldError(f"field {where}: {e}") from None
    return values


def _check_value(annotation: Any, value: Any, label: str) -> Any:
    """``value`` if it has the type ``annotation`` names (JSON lists -> tuples)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None and len(kinds) < len(typing.get_args(annotation)):
            return None
        if len(kinds) == 1:
            return _check_value(kinds[0], value, label)
        return value  # a union of several types: the dataclass checks it
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise FieldError(f"field {label}: expected a finite number, got {value!r}")
    elif annotation is str:
        ok = isinstance(value, str)
    elif typing.get_origin(annotation) is tuple:
        if not isinstance(value, (list, tuple)):
            raise FieldError(f"field {label}: expected a list, got {_json_type(value)}")
        item = typing.get_args(annotation)[0]
        return tuple(_check_value(item, v, f"{label}[{i}]") for i, v in enumerate(value))
    else:
        return value
    if not ok:
        name = getattr(annotation, "__name__", str(annotation))
        raise FieldError(f"field {label}: expected {name}, got {_json_type(value)} {value!r:.40}")
    return value


def _check_option(f: dataclasses.Field, value: Any, label: str) -> None:
    """The range and choices a command-line option declares hold for a recorded value too."""
    how = f.metadata.get("cli")
    if how is None or value is None or isinstance(value, bool):
        return
    if how.choices is not None and value not in how.choices:
        choices = ", ".join(map(repr, how.choices))
        raise FieldError(f"field {label}: must be one of {choices}, got {value!r:.40}")
    if isinstance(value, (int, float)):
        too_low = how.low is not None and value < how.low
        too_high = how.high is not None and (
            value >= how.high if how.open_high else value > how.high
        )
        if too_low or too_high:
            right = ")" if how.open_high else "]"
            raise FieldError(f"field {label}: must be in [{how.low}, {how.high}{right}, "
                             f"got {value!r}")  # fmt: skip


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)
