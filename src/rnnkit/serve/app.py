"""The ASGI app behind ``rnnkit serve``: one static page and the JSON API it calls.

Routes: ``GET /api/models`` (what is loaded, and the limits), each kind's endpoints (see the
kind modules), and the page at ``/`` (its files under ``/static/``). Every error is
``{"error": "..."}`` with a 4xx status (5xx only for a bug); model runs happen in worker
threads, so ``/api/models`` answers during a long generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rnnkit.errors import RnnkitError
from rnnkit.serve import classifier, ctc, frames, language_model, music, seq2seq, tagger
from rnnkit.serve.limits import RunSlots, ServeLimits, ServerBusyError
from rnnkit.serve.models import load_models
from rnnkit.serve.requests import ApiError
from rnnkit.viz.activations import TEXT_COLOUR_JS

#: one API module per kind of model, in the page's order of views
APIS = (language_model, classifier, tagger, seq2seq, ctc, frames)
STATIC = Path(__file__).parent / "static"


async def list_models(request: Request) -> Response:
    """``GET /api/models``: the loaded models (name, kind, details) and the server's limits."""
    state = request.app.state
    models = [served.describe() for served in state.models.values()]
    return JSONResponse({"models": models, "limits": asdict(state.limits)})


async def page(request: Request) -> Response:
    """``GET /``: the page (its script and style are under ``/static/``)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def no_icon(request: Request) -> Response:
    """``GET /favicon.ico``: nothing, rather than a 404 in the browser's console."""
    return Response(status_code=204)


async def text_colour(request: Request) -> Response:
    """``GET /static/colours.js``: the text colour rule the page shares with ``rnnkit inspect``."""
    return Response(TEXT_COLOUR_JS, media_type="text/javascript")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error(exc.status, exc.message)
    if isinstance(exc, ServerBusyError):
        return error(503, str(exc))
    if isinstance(exc, HTTPException):
        return error(exc.status_code, str(exc.detail), exc.headers)  # 405 keeps its Allow
    return error(400, str(exc).splitlines()[0][:300])  # an RnnkitError from the model's checks


def create_app(model_dirs: Sequence[str | Path], limits: ServeLimits | None = None) -> Starlette:
    """The app serving the models saved in ``model_dirs``, all loaded now.

    Raises:
        CheckpointError: a directory that does not load, or holds a model with no view.
    """
    routes = [Route("/", page), Route("/api/models", list_models), Route("/favicon.ico", no_icon),
              Route("/static/colours.js", text_colour)]  # fmt: skip
    for api in APIS:
        routes += api.ROUTES
    routes += music.ROUTES  # a view of language models trained on tunes
    routes.append(Mount("/static", StaticFiles(directory=STATIC)))
    handlers = {exc: api_error for exc in (ApiError, ServerBusyError, HTTPException, RnnkitError)}
    app = Starlette(routes=routes, exception_handlers=handlers)
    limits = limits or ServeLimits()
    app.state.models = load_models(model_dirs, APIS)
    app.state.limits = limits
    app.state.slots = RunSlots(limits.max_running, limits.max_waiting)
    return app
