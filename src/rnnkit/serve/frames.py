"""The frames view's API: a test sequence of moving digits and a model's predicted frames.

``POST /api/frames`` takes ``{"model", "seed": S}`` and answers ``observed`` and ``truth`` (the
sequence's frames, from test scans the model never saw) and ``predicted``, each a list of
frames of rows of pixels in [0, 1], with the sequence's per-frame MSE.
"""

from __future__ import annotations

from typing import Any

import torch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.data.digits import split_scans
from rnnkit.data.moving_digits import moving_digits
from rnnkit.serve.models import pick
from rnnkit.serve.requests import Body, read_json
from rnnkit.tasks.frames import FramesModel, per_frame_mse

KIND = "frames"
FORMAT = FramesModel.FORMAT
FIELDS = ("model", "seed")


def problem(model: FramesModel) -> str | None:
    return None


def describe(model: FramesModel) -> dict[str, Any]:
    c = model.config
    return {"model": c.model, "canvas": c.canvas, "frames_in": c.frames_in,
            "frames_out": c.frames_out}  # fmt: skip


def frames_report(model: FramesModel, seed: int) -> dict[str, Any]:
    c = model.config
    _, _, test = split_scans(seed=0)
    sequence = moving_digits(test, 1, seed=seed, frames=c.frames_in + c.frames_out,
                             canvas=c.canvas)  # fmt: skip
    observed, truth = model.split(sequence)
    predicted = model.predict(observed)

    def pixels(frames: torch.Tensor) -> list:
        return [[[round(v, 3) for v in row] for row in f] for f in frames[0].tolist()]

    return {"observed": pixels(observed), "truth": pixels(truth), "predicted": pixels(predicted),
            "mse": round(per_frame_mse(predicted, truth), 3)}  # fmt: skip


async def frames(request: Request) -> Response:
    """``POST /api/frames``: predict the frames of a test sequence."""
    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), FIELDS)
    model = pick(state.models, body, KIND)
    seed = body.integer("seed", 0, 0, 2**31 - 1)
    return JSONResponse(await state.slots.run(frames_report, model, seed))


ROUTES = [Route("/api/frames", frames, methods=["POST"])]
