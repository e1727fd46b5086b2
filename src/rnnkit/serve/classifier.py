"""The classifier view's API: a text's label, its probabilities, and each token's contribution.

A token's contribution is measured by occlusion (leave one out): the predicted label's
probability for the whole text minus its probability for the text without that token, both
encoded as the model encodes (so truncation applies to both). Positive: the token argues for
the label; negative: against it. The first :data:`MAX_OCCLUDED` tokens are measured.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.data.padded import truncate
from rnnkit.data.tokenize import UNK, TextEncoder
from rnnkit.serve.models import pick
from rnnkit.serve.requests import Body, read_json
from rnnkit.tasks.classifier import SequenceClassifier

KIND = "classifier"
FORMAT = SequenceClassifier.FORMAT
FIELDS = ("model", "text")
MAX_OCCLUDED = 300  # tokens whose contribution is measured (each costs one more sequence)
METHOD = "occlusion: p(label | text) - p(label | text without the token)"


def problem(model: SequenceClassifier) -> str | None:
    return None if model.encoder is not None else "the classifier has no text encoder"


def describe(model: SequenceClassifier) -> dict[str, Any]:
    return {"labels": model.labels, "tokenizer": model.encoder.tokenizer.kind}


def without_each(encoder: TextEncoder, ids: list[int], count: int) -> list[list[int]]:
    """The ids with token i left out, for i < count, truncated as the encoder truncates."""
    unk = [encoder.vocab.stoi[UNK]]
    return [
        truncate(ids[:i] + ids[i + 1 :], encoder.max_length, encoder.keep) or unk
        for i in range(count)
    ]


def classify_report(model: SequenceClassifier, text: str) -> dict[str, Any]:
    """Label, probabilities, tokens and their occlusion contributions (None past the cap)."""
    encoder = model.encoder
    tokens = encoder.tokenizer(text)
    ids = encoder.vocab.encode(tokens)
    count = min(len(ids), MAX_OCCLUDED)
    probs = model.predict_proba([encoder(text), *without_each(encoder, ids, count)])  # (1+N, C)
    best = int(probs[0].argmax())
    drops = (probs[0, best] - probs[1:, best]).tolist()
    return {
        "label": model.labels[best],
        "probability": round(float(probs[0, best]), 6),
        "probabilities": {k: round(p, 6) for k, p in zip(model.labels, probs[0].tolist(),
                                                           strict=True)},
        "tokens": tokens,
        "joiner": "" if encoder.tokenizer.kind == "char" else " ",
        "contributions": [round(d, 6) for d in drops] + [None] * (len(tokens) - count),
        "method": METHOD,
    }  # fmt: skip


async def classify(request: Request) -> Response:
    """``POST /api/classify``: label a text and say which tokens drove the label."""
    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), FIELDS)
    model = pick(state.models, body, KIND)
    text = body.text("text", limit=state.limits.max_input_chars)
    return JSONResponse(await state.slots.run(classify_report, model, text))


ROUTES = [Route("/api/classify", classify, methods=["POST"])]
