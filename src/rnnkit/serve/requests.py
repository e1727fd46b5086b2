"""Reading a request: a bounded JSON body, and its fields checked where they enter.

Every problem becomes an :class:`ApiError`, which the app answers with its status and
``{"error": "..."}``; the checks are the ones in :mod:`rnnkit.checks`, so a field's message
reads like the matching command-line option's.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request

from rnnkit.checks import check_bool, check_choice, check_int, check_unicode

MAX_MESSAGE = 300  # characters of an error message (a huge bad value is not echoed whole)
LOG = logging.getLogger("uvicorn.error")  # the server's log: its lines look like uvicorn's


class ApiError(Exception):
    """A request the server refuses: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "..."


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, at most ``limit`` bytes (413 past it, 400 if not JSON)."""
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body is {declared} bytes; the limit is {limit}")
    raw = bytearray()
    try:
        async for chunk in request.stream():  # a body without Content-Length is counted too
            raw += chunk
            if len(raw) > limit:
                raise ApiError(413, f"request body is over the limit of {limit} bytes")
    except ClientDisconnect:  # no one to answer: one line in the log, not a traceback
        LOG.warning("client %s went away before sending the whole request body", _client(request))
        raise ApiError(400, "the client went away before sending the whole body") from None
    try:
        body = json.loads(bytes(raw), parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:
        raise ApiError(400, f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(body).__name__}")
    return body


class Body:
    """The fields of one request body; unknown fields are refused, listing the valid ones."""

    def __init__(self, data: dict[str, Any], fields: tuple[str, ...]) -> None:
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r}; valid fields: {', '.join(fields)}")
        self.data = data

    def _checked(self, name: str, default: Any, check: Callable[[Any], Any]) -> Any:
        value = self.data.get(name, default)
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as e:
            raise ApiError(400, str(e)) from None

    def text(
        self, name: str, *, limit: int, default: str | None = None, blank: bool = False
    ) -> str:
        """A non-empty string of at most ``limit`` characters, all blank only if ``blank``."""
        value = self.data.get(name, default)
        if not isinstance(value, str) or not (value if blank else value.strip()):
            raise ApiError(400, f"{name} must be a non-empty string, got {_short(value)}")
        if len(value) > limit:
            raise ApiError(400, f"{name} is {len(value)} characters; the limit is {limit}")
        return self._checked(name, value, lambda v: check_unicode(name, v))

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        """An integer in [low, high], or the default (None: not given)."""
        return self._checked(name, default, lambda v: check_int(name, v, low, high))

    def number(
        self, name: str, default: float | None, low: float, high: float, *, open_low: bool = False
    ) -> float | None:
        """A finite number in [low, high] ((low, high] with ``open_low``), or the default."""
        return self._checked(name, default, lambda v: _number(name, v, low, high, open_low))

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        return self._checked(name, default, lambda v: check_choice(name, v, choices))

    def flag(self, name: str, default: bool) -> bool:
        return self._checked(name, default, lambda v: check_bool(name, v))


def _number(name: str, value: Any, low: float, high: float, open_low: bool) -> float:
    """``value`` as a float in [low, high] ((low, high] if ``open_low``), else a ValueError."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and low <= value <= high
    if not ok or (open_low and value == low):
        left = "(" if open_low else "["
        raise ValueError(f"{name} must be a number in {left}{low}, {high}], got {_short(value)}")
    return float(value)


def _client(request: Request) -> str:
    """``host:port`` of the request's client (``unknown`` without one)."""
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown"


def _short(value: Any) -> str:
    """``repr`` of a bad value, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
