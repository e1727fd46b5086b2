"""The language-model view's API: generated text as it is produced, and cell activations.

``POST /api/generate`` streams the generated text (``text/plain``, the prime not repeated) as
:func:`rnnkit.apps.language_model.generate_iter` yields it, or with ``"stream": false`` answers
``{"text": ...}`` once done. ``POST /api/activations`` gives one cell's activation at each
position of a text (what :func:`rnnkit.viz.activations.cell_activations` reads), the page's
colouring, with each position's five likeliest next tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from rnnkit.errors import VocabularyError
from rnnkit.serve.limits import RunSlots
from rnnkit.serve.models import pick
from rnnkit.serve.requests import ApiError, Body, read_json
from rnnkit.tasks.language_model import LanguageModel

KIND = "language_model"
FORMAT = LanguageModel.FORMAT
GENERATE_FIELDS = ("model", "prime", "length", "temperature", "top_k", "top_p", "seed", "stream")
ACTIVATION_FIELDS = ("model", "text", "layer", "unit", "source")
RANKED = 10  # units listed as worth a look: the most varying over the text
TOP = 5  # next tokens shown per position


def problem(model: LanguageModel) -> str | None:
    """Why the page could not use this model, or None."""
    return None if model.vocab is not None else "the language model has no vocabulary"


def describe(model: LanguageModel) -> dict[str, Any]:
    config = model.config
    return {"cell": config.cell, "num_layers": config.num_layers,
            "hidden_size": config.hidden_size, "vocab_size": config.vocab_size,
            "unit": model.unit}  # fmt: skip


def encode(model: LanguageModel, name: str, text: str) -> torch.Tensor:
    """(T,) ids of ``text``; 400 naming the field for symbols the vocabulary lacks."""
    try:
        return model.vocab.encode(text, strict=True)
    except VocabularyError as e:
        raise ApiError(400, f"{name}: {e}") from None


def pieces(model: LanguageModel, prime: str, length: int, **options: Any) -> Iterator[str]:
    """The generated text, piece by piece (without the prime)."""
    from rnnkit.apps.language_model import generate_iter

    return generate_iter(model, prime, length, **options)


class SlotStream(StreamingResponse):
    """A streamed response that gives its run slot back however it ends (done, gone, failed)."""

    def __init__(self, content: Iterator[str], slots: RunSlots) -> None:
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        super().__init__(iterate_in_threadpool(content), media_type="text/plain", headers=headers)
        self.slots = slots

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.release()


async def generate(request: Request) -> Response:
    """``POST /api/generate``: sample text from a language model."""
    state = request.app.state
    limits = state.limits
    body = Body(await read_json(request, limits.max_body_bytes), GENERATE_FIELDS)
    model = pick(state.models, body, KIND)
    prime = body.text("prime", limit=limits.max_input_chars, default="\n", blank=True)
    options = {
        "length": body.integer("length", 200, 0, limits.max_length),
        "temperature": body.number("temperature", 0.8, 0.0, 100.0),
        "top_k": body.integer("top_k", None, 1, 10**6),
        "top_p": body.number("top_p", None, 0.0, 1.0, open_low=True),
        "seed": body.integer("seed", None, 0, 2**63 - 1),
    }
    stream = body.flag("stream", True)
    encode(model, "prime", prime)
    if not stream:
        text = await state.slots.run(lambda: "".join(pieces(model, prime, **options)))
        return JSONResponse({"prime": prime, "text": text})
    await state.slots.acquire()  # released by the response, however it ends
    return SlotStream(pieces(model, prime, **options), state.slots)


def activation_report(
    model: LanguageModel, ids: torch.Tensor, layer: int, unit: int | None, source: str
) -> dict[str, Any]:
    """One unit's activation at each position, the units that vary most, the top next tokens."""
    from rnnkit.viz.activations import cell_activations

    acts = cell_activations(model, ids)
    values = (acts.cell if source == "cell" else acts.h)[layer]  # (T, H)
    spread = values.std(0) if values.shape[0] > 1 else values.abs()[0]  # (H,)
    ranked = spread.argsort(descending=True)[:RANKED].tolist()
    unit = ranked[0] if unit is None else unit
    probs, top = acts.next_probs.topk(min(TOP, acts.next_probs.shape[-1]), dim=-1)  # (T, 5)
    itos = model.vocab.itos
    return {
        "tokens": [itos[i] for i in ids.tolist()],
        "joiner": model.vocab.separator,
        "layer": layer, "unit": unit, "source": source, "ranked": ranked,
        "values": [round(v, 4) for v in values[:, unit].tolist()],
        "top": [[[itos[i], round(p, 4)] for i, p in zip(ii, pp, strict=True)]
                for ii, pp in zip(top.tolist(), probs.tolist(), strict=True)],
    }  # fmt: skip


async def activations(request: Request) -> Response:
    """``POST /api/activations``: colour a text by one cell of a language model."""
    state = request.app.state
    limits = state.limits
    body = Body(await read_json(request, limits.max_body_bytes), ACTIVATION_FIELDS)
    model = pick(state.models, body, KIND)
    config = model.config
    text = body.text("text", limit=limits.max_input_chars + limits.max_length, blank=True)
    layer = body.integer("layer", 0, 0, config.num_layers - 1)
    unit = body.integer("unit", None, 0, config.hidden_size - 1)
    lstm = config.cell == "lstm"
    source = body.choice("source", "cell" if lstm else "h", ("cell", "h") if lstm else ("h",))
    ids = encode(model, "text", text)
    report = await state.slots.run(activation_report, model, ids, layer, unit, source)
    return JSONResponse(report)


ROUTES = [
    Route("/api/generate", generate, methods=["POST"]),
    Route("/api/activations", activations, methods=["POST"]),
]
