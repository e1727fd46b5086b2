"""The recogniser view's API: a line of handwriting in, its digits and the frame-by-frame label
posteriors out.

``POST /api/recognise`` takes ``{"model", "image": [[...], ...]}`` (rows of ink in [0, 1], the
model's height, as the page's drawing pad sends it) or ``{"model", "seed": S}`` (a test line
written with the test scans, which the model never saw). It answers the image, the best path's
digits, the prefix beam's, the truth when it made the line, and ``posteriors`` (T, 1 + L):
each frame's probability of the blank and of each label.
"""

from __future__ import annotations

from typing import Any

import torch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.data.digit_lines import digit_lines
from rnnkit.data.digits import split_scans
from rnnkit.serve.models import pick
from rnnkit.serve.requests import ApiError, Body, read_json
from rnnkit.tasks.ctc import CTCRecognizer

KIND = "recogniser"
FORMAT = CTCRecognizer.FORMAT
FIELDS = ("model", "image", "seed")
MAX_COLUMNS = 2000  # widest image the page may send
BEAM = 8


def problem(model: CTCRecognizer) -> str | None:
    if model.config.source != "handwriting":
        return "the page reads handwriting; a speech model: use `rnnkit transcribe FILE.wav`"
    return None


def describe(model: CTCRecognizer) -> dict[str, Any]:
    c = model.config
    return {"alphabet": c.alphabet, "height": c.image_height, "source": c.source}


def image_of(body: Body, model: CTCRecognizer) -> tuple[torch.Tensor, str | None]:
    """The request's image (H, W), and the truth when the server wrote it (``seed``)."""
    if body.data.get("image") is None:
        seed = body.integer("seed", 0, 0, 2**31 - 1)
        _, _, test = split_scans(seed=0)
        line = digit_lines(test, 1, seed=seed)
        return line.images[0], line.labels[0]
    rows = body.data["image"]
    H = model.config.image_height
    ok = isinstance(rows, list) and len(rows) == H and all(isinstance(r, list) for r in rows)
    if not ok or not 2 <= len(rows[0]) <= MAX_COLUMNS or len({len(r) for r in rows}) != 1:
        raise ApiError(400, f"image must be {H} rows of 2..{MAX_COLUMNS} numbers each")
    try:
        image = torch.tensor(rows, dtype=torch.float32)
    except (TypeError, ValueError):
        raise ApiError(400, "image must hold numbers in [0, 1]") from None
    if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ApiError(400, "image must hold numbers in [0, 1]")
    return image, None


def recognise_report(model: CTCRecognizer, image: torch.Tensor, truth: str | None) -> dict:
    batch = model.batch([image], None, [0])
    with torch.no_grad():
        log_probs, lengths = model(batch.images, batch.widths)
    posteriors = log_probs[0, : int(lengths[0])].exp()  # (T, 1 + L)
    return {
        "image": [[round(v, 3) for v in row] for row in image.tolist()],
        "best_path": model.recognise([image])[0],
        "beam": model.recognise([image], beam_size=BEAM)[0],
        "truth": truth,
        "labels": ["∅", *model.config.alphabet],
        "posteriors": [[round(p, 4) for p in frame] for frame in posteriors.tolist()],
    }


async def recognise(request: Request) -> Response:
    """``POST /api/recognise``: read a line (drawn, or a test line by seed)."""
    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), FIELDS)
    model = pick(state.models, body, KIND)
    image, truth = image_of(body, model)
    return JSONResponse(await state.slots.run(recognise_report, model, image, truth))


ROUTES = [Route("/api/recognise", recognise, methods=["POST"])]
