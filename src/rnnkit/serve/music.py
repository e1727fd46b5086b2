"""The music view's API: a folk tune from a language model trained on tunes, and its notes.

A language model whose directory holds ``tunes.json`` (``rnnkit train lm --preset folk``)
reads and writes ABC. ``GET /api/music`` lists those models with the meters and keys they saw;
``POST /api/compose`` writes one tune as ``rnnkit compose`` does (prime with the header, sample
to the blank line that ends a tune, check with music21) and answers the ABC, the check and the
notes to play: ``[start, duration]`` in seconds at 120 quarter notes a minute and the MIDI pitch.
The page renders the ABC with the vendored abcjs and plays the notes with the Web Audio API.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rnnkit.serve.models import Served
from rnnkit.serve.requests import ApiError, Body, read_json

COMPOSE_FIELDS = ("model", "meter", "key", "seed", "temperature")
SECONDS_PER_QUARTER = 0.5  # 120 quarter notes a minute
SHOWN = 12  # meters and keys offered per model: its commonest


def tune_models(models: dict[str, Served]) -> dict[str, dict[str, Any]]:
    """name -> ``tunes.json`` of each loaded language model trained on tunes."""
    from rnnkit.data.abc import load_record

    found = {}
    for name, served in models.items():
        if served.kind == "language_model" and (record := load_record(served.path)) is not None:
            found[name] = record
    return found


async def list_tune_models(request: Request) -> Response:
    """``GET /api/music``: the models that write tunes, with their commonest meters and keys."""
    found = tune_models(request.app.state.models)
    return JSONResponse({"models": [
        {"name": name, "meters": list(r["meters"])[:SHOWN], "keys": list(r["keys"])[:SHOWN]}
        for name, r in found.items()
    ]})  # fmt: skip


def notes(abc: str) -> list[list[float]]:
    """``[start s, duration s, MIDI pitch]`` of each note of a tune music21 reads, in order."""
    from rnnkit.data.abc_checks import parse_score

    score = parse_score(abc)
    if isinstance(score, str):
        return []
    played = []
    for note in score.flatten().notes:
        start = float(note.offset) * SECONDS_PER_QUARTER
        length = float(note.duration.quarterLength) * SECONDS_PER_QUARTER
        played += [[round(start, 4), round(length, 4), p.midi] for p in note.pitches]
    return played


def compose_one(model: Any, head: str, seed: int, temperature: float, limit: int) -> dict:
    """One tune, its check and its notes (runs in a worker thread)."""
    from rnnkit.apps.compose import compose

    (tune,) = compose(model, head, 1, seed=seed, temperature=temperature, max_length=limit)
    abc = f"X:1\nT:rnnkit tune (seed {seed})\n{tune.text}\n"
    return {"abc": abc, "finished": tune.finished, "check": asdict(tune.check),
            "notes": notes(abc)}  # fmt: skip


async def compose_tune(request: Request) -> Response:
    """``POST /api/compose``: one tune from a model trained on tunes."""
    from rnnkit.apps.compose import header, unseen
    from rnnkit.apps.language_model import prime_ids

    state = request.app.state
    body = Body(await read_json(request, state.limits.max_body_bytes), COMPOSE_FIELDS)
    found = tune_models(state.models)
    name = body.data.get("model", next(iter(found), None))
    if name not in found:
        raise ApiError(404, f"no model trained on tunes named {str(name)[:60]!r}; "
                            f"loaded: {', '.join(found) or 'none'}")  # fmt: skip
    record = found[name]
    meter = body.text("meter", limit=20, default=next(iter(record["meters"]), "4/4"))
    key = body.text("key", limit=20, default=next(iter(record["keys"]), "G"))
    seed = body.integer("seed", 0, 0, 2**63 - 1)
    temperature = body.number("temperature", 1.0, 0.0, 100.0, open_low=True)
    served = state.models[name]
    head = header(meter, key, units=record.get("units"))  # a bad meter or key: 400
    prime_ids(served.model.vocab, head)  # characters it never read: 400
    reply = await state.slots.run(compose_one, served.model, head, seed, temperature,
                                  state.limits.max_length)  # fmt: skip
    warnings = [f"the model saw no tunes with {gap}" for gap in unseen(served.path, meter, key)]
    return JSONResponse({**reply, "warnings": warnings})


ROUTES = [
    Route("/api/music", list_tune_models),
    Route("/api/compose", compose_tune, methods=["POST"]),
]
