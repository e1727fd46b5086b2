"""The sequence-to-sequence view's API: an input's n-best outputs, scores and attention.

The input is split the way the model was trained (:meth:`rnnkit.tasks.Seq2Seq.read_input`:
characters, whitespace-separated words, or a sorter's numbers) and decoded by
:meth:`rnnkit.tasks.Seq2Seq.translate` (greedy for beam 1, else beam search); each output
carries its attention matrix, one row per output token and ``</s>``, one column per source
token (None for a model without attention).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.decoding import LENGTH_PENALTIES
from rnnkit.serve.models import pick
from rnnkit.serve.requests import ApiError, Body, read_json
from rnnkit.tasks.seq2seq import Seq2Seq, Translation, input_tokens

KIND = "seq2seq"
FORMAT = Seq2Seq.FORMAT
FIELDS = ("model", "text", "beam", "n_best", "max_length", "length_penalty", "alpha")
END = "</s>"


def problem(model: Seq2Seq) -> str | None:
    return None if model.encoder is not None else "the model has no vocabularies"


def describe(model: Seq2Seq) -> dict[str, Any]:
    return {"attention": bool(model.decoder.attends or model.pointing),
            "source_tokens": input_tokens(model.task),
            "target_tokens": model.task.get("target_tokens", "space")}  # fmt: skip


def output(t: Translation, source: tuple[str, ...], joiner: str) -> dict[str, Any]:
    """One hypothesis as JSON: its text, tokens, scores and attention rows (as the CLI plots)."""
    rows = [*t.tokens, END]
    attention = None
    if t.attention is not None:
        rows = rows[: t.attention.shape[0]]
        weights = t.attention[: len(rows), : len(source)].tolist()
        attention = [[round(w, 4) for w in row] for row in weights]
    return {"output": joiner.join(t.tokens), "tokens": t.tokens, "score": round(t.score, 6),
            "log_prob": round(t.log_prob, 6), "rows": rows, "attention": attention}  # fmt: skip


def translate_report(model: Seq2Seq, source: tuple[str, ...], options: dict) -> dict[str, Any]:
    nbest = model.translate([source], **options)[0]
    joiner = " " if model.task.get("target_tokens", "space") == "space" else ""
    return {"source": list(source), "unknown": model.unknown_tokens([source]),
            "outputs": [output(t, source, joiner) for t in nbest]}  # fmt: skip


def decoding(body: Body, limits: Any, source_length: int) -> dict[str, Any]:
    """``translate``'s options from the request: greedy for beam 1, else beam search."""
    beam = body.integer("beam", min(5, limits.max_beam), 1, limits.max_beam)
    n_best = body.integer("n_best", min(3, beam), 1, limits.max_beam)
    if n_best > beam:
        raise ApiError(400, f"n_best must be in [1, beam={beam}], got {n_best}")
    default_length = min(2 * source_length + 10, limits.max_length)
    max_length = body.integer("max_length", default_length, 1, limits.max_length)
    penalty = body.choice("length_penalty", "none", LENGTH_PENALTIES)
    alpha = body.number("alpha", 0.6, 0.0, 10.0)
    if beam == 1:
        return {"method": "greedy", "max_length": max_length}
    return {"method": "beam", "beam_size": beam, "n_best": n_best, "max_length": max_length,
            "length_penalty": penalty, "alpha": alpha}  # fmt: skip


async def translate(request: Request) -> Response:
    """``POST /api/translate``: decode an input to its n-best outputs."""
    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), FIELDS)
    model = pick(state.models, body, KIND)
    text = body.text("text", limit=state.limits.max_input_chars)
    try:
        source = model.read_input(text)
    except ValueError as e:  # a sorter given a word that is not a number in its range
        raise ApiError(400, f"text: {e}") from None
    options = decoding(body, state.limits, len(source))
    return JSONResponse(await state.slots.run(translate_report, model, source, options))


ROUTES = [Route("/api/translate", translate, methods=["POST"])]
