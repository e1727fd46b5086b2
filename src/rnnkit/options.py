"""Config fields that are also command-line options: one source of names, defaults and help.

A frozen config dataclass declares a field with :func:`option` instead of a bare default; the
command line (``rnnkit.cli.options``) builds ``--the-field-name`` from it, with its help, its
type, its range and its choices, so an option cannot exist in one place and be missing in
another. Options a command does not take are simply not declared with :func:`option`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """How a config field shows on the command line."""

    help: str
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # upper bound, inclusive unless open_high
    open_high: bool = False
    choices: tuple[str, ...] | None = None
    flag: str | None = None  # the option's name when it differs from --field-name
    zero_is_none: bool = False  # on the command line, 0 means "off" (None in the config)


#: the bounds of a probability option: ``option(0.1, "...", **PROBABILITY)`` is in [0, 1)
PROBABILITY: dict[str, Any] = {"low": 0.0, "high": 1.0, "open_high": True}


def option(default: Any, help: str, **how: Any) -> Any:
    """A dataclass field with ``default`` that the command line exposes (see :class:`Option`)."""
    return field(default=default, metadata={"cli": Option(help, **how)})
