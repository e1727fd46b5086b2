"""The tagger view's API: a sentence (split at whitespace, as ``rnnkit tag`` splits) -> tags."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.serve.models import pick
from rnnkit.serve.requests import Body, read_json
from rnnkit.tasks.tagger import Tagger

KIND = "tagger"
FORMAT = Tagger.FORMAT
FIELDS = ("model", "text")


def problem(model: Tagger) -> str | None:
    return None if model.encoder is not None else "the tagger has no encoder"


def describe(model: Tagger) -> dict[str, Any]:
    return {"column": model.column, "tags": list(model.encoder.tags)}


def tag_report(model: Tagger, words: list[str]) -> dict[str, Any]:
    return {"tokens": words, "tags": model.tag([words])[0], "column": model.column}


async def tag(request: Request) -> Response:
    """``POST /api/tag``: the tag of each word of a sentence."""
    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), FIELDS)
    model = pick(state.models, body, KIND)
    words = body.text("text", limit=state.limits.max_input_chars).split()
    return JSONResponse(await state.slots.run(tag_report, model, words))


ROUTES = [Route("/api/tag", tag, methods=["POST"])]
