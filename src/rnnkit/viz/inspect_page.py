"""A static page that shows what a character language model's cells track in a text.

The text is coloured by one cell's activation (tanh(c) for an LSTM, h otherwise; blue < 0 <
red), a picker chooses the cell, hovering a character shows the model's five most likely next
characters, and a table lists the cells whose activation best tracks simple properties of the
text by Pearson correlation over positions (Karpathy, Johnson & Fei-Fei 2015 found cells for
quotes and line length this way). Below, the gate-saturation scatter (:mod:`.saturation`).
Everything is inline: the page works offline, opened as a file.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from html import escape

import numpy as np

from rnnkit.viz.activations import TEXT_COLOUR_JS, CellActivations
from rnnkit.viz.inspect_template import TEMPLATE
from rnnkit.viz.saturation import gate_saturation, saturation_svg

OPENING, CLOSING = "([{", ")]}"
TOP_K = 5  # next-character candidates shown on hover
BEST = 5  # cells listed per property


def text_properties(text: str) -> dict[str, np.ndarray]:
    """Each property of the text after reading each character, (T,) float64.

    - inside quotes: 1 after an odd number of ``"`` so far (the opening quote counts as in).
    - position in line: characters since the last newline (0 at the newline itself).
    - inside brackets: 1 while more ``( [ {`` than ``) ] }`` have been read.
    """
    quotes, column, depth = 0, 0, 0
    out = np.zeros((3, len(text)))
    for t, ch in enumerate(text):
        quotes ^= ch == '"'
        column = 0 if ch == "\n" else column + 1
        depth = max(0, depth + (ch in OPENING) - (ch in CLOSING))
        out[:, t] = quotes, column, depth > 0
    return dict(zip(("inside quotes", "position in line", "inside brackets"), out, strict=True))


def pearson(values: np.ndarray, prop: np.ndarray) -> np.ndarray:
    """r of each column of ``values`` (T, H) with ``prop`` (T,) -> (H,); NaN where constant."""
    a = values - values.mean(0)  # (T, H)
    b = prop - prop.mean()  # (T,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (b @ a) / np.sqrt((a * a).sum(0) * (b @ b))


@dataclass(frozen=True)
class Tracker:
    """A cell that tracks a property: its index and correlation."""

    cell: int
    r: float


def best_cells(values: np.ndarray, text: str, k: int = BEST) -> dict[str, list[Tracker]]:
    """Per property, the ``k`` cells of ``values`` (T, H) with the largest |r|."""
    found = {}
    for name, prop in text_properties(text).items():
        r = pearson(values, prop)
        order = [int(i) for i in np.argsort(-np.abs(np.nan_to_num(r))) if not np.isnan(r[i])]
        found[name] = [Tracker(i, float(r[i])) for i in order[:k]]
    return found


def _quantised(values: np.ndarray) -> tuple[str, float]:
    """(T, H) activations -> base64 of int8 codes (cell-major) and the scale code 127 maps to."""
    scale = max(1.0, float(np.abs(values).max()))  # tanh-bounded views keep one colour scale
    codes = np.round(values.T / scale * 127).astype(np.int8)  # (H, T)
    return base64.b64encode(codes.tobytes()).decode("ascii"), scale


def page_data(text: str, acts: CellActivations, itos: list[str], layer: int) -> dict:
    """What the page's script reads: characters, activations, top-5 next characters, trackers."""
    values = acts.view(layer).double().numpy()  # (T, H)
    probs, ids = acts.next_probs.topk(min(TOP_K, acts.next_probs.shape[-1]), dim=-1)  # (T, K)
    trackers = best_cells(values, text)
    flat = [t for found in trackers.values() for t in found]
    codes, scale = _quantised(values)
    return {
        "chars": list(text),
        "cells": values.shape[1],
        "scale": scale,
        "codes": codes,
        "next": [
            [[itos[i], round(p, 4)] for i, p in zip(row_ids, row_p, strict=True)]
            for row_ids, row_p in zip(ids.tolist(), probs.tolist(), strict=True)
        ],
        "trackers": {n: [[t.cell, round(t.r, 3)] for t in f] for n, f in trackers.items()},
        "start": max(flat, key=lambda t: abs(t.r)).cell if flat else 0,
    }


def inspect_page(
    text: str, acts: CellActivations, itos: list[str], *, layer: int, title: str = "rnnkit inspect"
) -> str:
    """The self-contained HTML page for ``text`` (see the module docstring)."""
    data = json.dumps(page_data(text, acts, itos, layer), separators=(",", ":"))
    what = "tanh(c)" if acts.cell is not None else "h"
    sat = saturation_svg(gate_saturation(acts.gates)) or "<p>This cell has no gates.</p>"
    fields = {
        "TITLE": escape(title),
        "WHAT": f"{what} of layer {layer} ({acts.kind.upper()})",
        "SATURATION": sat,
        "TEXTCOLOUR": TEXT_COLOUR_JS,
        "DATA": data.replace("</", "<\\/"),  # no "</script>" inside the data
    }
    return re.sub(r"\$([A-Z]+)", lambda m: fields[m[1]], TEMPLATE)  # one pass
