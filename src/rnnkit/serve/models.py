"""The models a server holds: loaded and checked at start-up, looked up by name per request.

A directory that fails to load, or holds a kind of model the page has no view for, stops the
server before it listens (a one-line :class:`~rnnkit.errors.CheckpointError`), not on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rnnkit.checkpoint import load, model_format
from rnnkit.errors import CheckpointError
from rnnkit.serve.requests import ApiError, Body


@dataclass(frozen=True)
class Served:
    """One loaded model: the name requests use, its kind (a view of the page), its API module."""

    name: str
    kind: str
    path: Path
    model: Any
    api: ModuleType

    def describe(self) -> dict[str, Any]:
        """What ``GET /api/models`` says about it: name, kind, directory, kind's details."""
        return {"name": self.name, "kind": self.kind, "path": str(self.path),
                **self.api.describe(self.model)}  # fmt: skip


def load_models(directories: Sequence[str | Path], apis: Sequence[ModuleType]) -> dict[str, Served]:
    """Load each directory with the API module of its format; name -> model, in given order.

    A model's name is its directory's name (``-2``, ``-3`` ... when two share one).
    """
    by_format = {api.FORMAT: api for api in apis}
    served: dict[str, Served] = {}
    for directory in map(Path, directories):
        kind = model_format(directory)
        api = by_format.get(kind)
        if api is None:
            kinds = ", ".join(a.KIND for a in apis)
            raise CheckpointError(f"{directory}: a {kind} model has no page; serve takes: {kinds}")
        model = load(directory)
        if problem := api.problem(model):
            raise CheckpointError(f"{directory}: {problem}")
        name, n = directory.resolve().name, 1
        while name in served:
            n += 1
            name = f"{directory.resolve().name}-{n}"
        served[name] = Served(name, api.KIND, directory, model, api)
    return served


def pick(models: dict[str, Served], body: Body, kind: str) -> Any:
    """The model a request names in ``model`` (default: the first of ``kind``); 404 if none."""
    name = body.data.get("model")
    if name is None:
        first = next((s for s in models.values() if s.kind == kind), None)
        if first is None:
            raise ApiError(404, f"no {kind} model is loaded")
        return first.model
    if not isinstance(name, str):
        raise ApiError(400, f"model must be a string (a name from /api/models), got {name!r}")
    served = models.get(name)
    if served is None:
        known = ", ".join(models)
        raise ApiError(404, f"unknown model {name[:60]!r}; loaded: {known}")
    if served.kind != kind:
        raise ApiError(400, f"model {name!r} is a {served.kind}; this endpoint needs a {kind}")
    return served.model
