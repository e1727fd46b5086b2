"""The recogniser view's API: a line of handwriting or a WAV file in, its labels and the
frame-by-frame label posteriors out.

``POST /api/recognise`` (handwriting models) takes ``{"model", "image": [[...], ...]}`` (rows
of ink in [0, 1], the model's height, as the page's drawing pad sends it) or ``{"model",
"seed": S}`` (a test line written with the test scans, which the model never saw). It answers
the image, the best path's digits, the prefix beam's, the truth when it made the line, and
``posteriors`` (T, 1 + L): each frame's probability of the blank and of each label.

``POST /api/transcribe`` (speech models) takes ``{"model", "wav": "<base64>"}``: a PCM WAV file
of any rate and channels (:func:`rnnkit.data.wav.decode_wav`), at most ``MAX_SECONDS`` long,
in a body of up to ``WAV_BODY_BYTES`` (or ``--max-body-bytes`` if larger: the page's other
requests are small, an upload is not). It answers as ``/api/recognise`` does, with the log-mel
frames the model read as the image (scaled to [0, 1], low bands at the bottom) and
``seconds``; a bad WAV is a 400 with one line.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import torch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.data.digit_lines import digit_lines
from rnnkit.data.digits import split_scans
from rnnkit.data.speech import log_mel
from rnnkit.data.wav import RATE, decode_wav
from rnnkit.errors import DataError
from rnnkit.serve.models import Served, pick
from rnnkit.serve.requests import ApiError, Body, read_json
from rnnkit.tasks.ctc import FRAME, CTCRecognizer

KIND = "recogniser"
FORMAT = CTCRecognizer.FORMAT
FIELDS = ("model", "image", "seed")
WAV_FIELDS = ("model", "wav")
MAX_COLUMNS = 2000  # widest image the page may send
BEAM = 8
WAV_BODY_BYTES = 8 << 20  # a WAV upload's body: base64 of 6 MiB of WAV (35 s of CD stereo)
MAX_SECONDS = 30.0  # longest upload transcribed (3,000 frames of 10 ms)


def problem(model: CTCRecognizer) -> str | None:
    return None  # handwriting reads images, speech reads uploaded WAV files


def reader(models: dict[str, Served], body: Body, source: str) -> CTCRecognizer:
    """The recogniser a request names, or the first of ``source``; 400 if it reads the other
    kind of input."""
    if body.data.get("model") is None:
        first = next((s.model for s in models.values()
                      if s.kind == KIND and s.model.config.source == source), None)  # fmt: skip
        if first is None:
            raise ApiError(404, f"no {source} recogniser is loaded")
        return first
    model = pick(models, body, KIND)
    if model.config.source != source:
        route = {"handwriting": "/api/recognise", "speech": "/api/transcribe"}
        raise ApiError(400, f"a {model.config.source} model: POST "
                            f"{route[model.config.source]}")  # fmt: skip
    return model


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
    return {"image": [[round(v, 3) for v in row] for row in image.tolist()], "truth": truth,
            **reading(model, image)}  # fmt: skip


def reading(model: CTCRecognizer, image: torch.Tensor) -> dict[str, Any]:
    """What the model reads in ``image`` (H, W): best path, prefix beam, and each frame's
    posteriors (T, 1 + L)."""
    batch = model.batch([image], None, [0])
    with torch.no_grad():
        log_probs, lengths = model(batch.images, batch.widths)
    posteriors = log_probs[0, : int(lengths[0])].exp()  # (T, 1 + L)
    return {
        "best_path": model.recognise([image])[0],
        "beam": model.recognise([image], beam_size=BEAM)[0],
        "labels": ["∅", *model.config.alphabet],
        "posteriors": [[round(p, 4) for p in frame] for frame in posteriors.tolist()],
    }


def wav_bytes(body: Body) -> bytes:
    """The request's ``wav``: base64 text -> the file's bytes (400 if it is not base64)."""
    text = body.data.get("wav")
    if not isinstance(text, str):
        raise ApiError(400, "wav must be a WAV file as base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "wav must be a WAV file as base64 text") from None


def transcribe_report(model: CTCRecognizer, data: bytes, name: str) -> dict[str, Any]:
    """Decode the WAV ``data`` (one-line 400 if it is not one), read its log-mel frames."""
    try:
        samples = decode_wav(data, name=name, max_seconds=MAX_SECONDS)
    except DataError as e:
        raise ApiError(400, str(e)) from None
    image = log_mel(samples, n_mels=model.config.image_height).T.contiguous()  # (n_mels, T)
    if image.shape[1] < FRAME:
        raise ApiError(400, f"{name}: too short to transcribe ({image.shape[1]} frames of 10 ms; "
                            f"at least {FRAME} needed)")  # fmt: skip
    low, high = image.min(), image.max()
    shown = ((image - low) / (high - low).clamp(min=1e-6)).flip(0)  # [0, 1], low bands below
    return {"image": [[round(v, 2) for v in row] for row in shown.tolist()], "truth": None,
            "seconds": round(len(samples) / RATE, 3), **reading(model, image)}  # fmt: skip


async def recognise(request: Request) -> Response:
    """``POST /api/recognise``: read a line (drawn, or a test line by seed)."""
    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), FIELDS)
    model = reader(state.models, body, "handwriting")
    image, truth = image_of(body, model)
    return JSONResponse(await state.slots.run(recognise_report, model, image, truth))


async def transcribe(request: Request) -> Response:
    """``POST /api/transcribe``: read an uploaded WAV file with a speech model."""
    state = request.app.state
    limit = max(state.limits.max_body_bytes, WAV_BODY_BYTES)
    body = Body(await read_json(request, limit), WAV_FIELDS)
    model = reader(state.models, body, "speech")
    data = wav_bytes(body)
    return JSONResponse(await state.slots.run(transcribe_report, model, data, "wav"))


ROUTES = [Route("/api/recognise", recognise, methods=["POST"]),
          Route("/api/transcribe", transcribe, methods=["POST"])]  # fmt: skip
