"""Folk tunes from a character LM trained on ABC (``rnnkit compose``; FolkRNN, Sturm et al. 2015).

The recipe: prime the model with a tune's header as the corpus writes it (``M:``, ``L:``,
``K:`` lines after the blank line that ends the tune before), sample until the blank line that
ends this one, check it with music21 (:mod:`rnnkit.data.abc_checks`), and write it as ABC and,
through music21, as MIDI or MusicXML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.data.abc import default_unit, load_record, normalise_key, normalise_meter
from rnnkit.data.abc_checks import TuneCheck, check_tune, parse_score, quiet
from rnnkit.errors import DataError

__all__ = ["Composed", "compose", "header", "unseen", "write_tune"]

SUFFIXES = {"abc": ".abc", "midi": ".mid", "musicxml": ".musicxml"}


@dataclass(frozen=True)
class Composed:
    """One sampled tune: its text (header and body, as the corpus writes tunes) and check."""

    text: str
    check: TuneCheck
    finished: bool  # it ended with a blank line before the length limit


def header(meter: str, key: str, unit: str | None = None, units: dict | None = None) -> str:
    """The ``M:``/``L:``/``K:`` lines a tune starts with, normalised as the corpus's are.

    Without ``unit``: the training tunes' commonest for the meter (``units``, from
    ``tunes.json``), else ABC's default for it.

    Raises:
        DataError: a meter, key or unit length ABC does not read (naming it).
    """
    normal_meter, normal_key = normalise_meter(meter), normalise_key(key)
    if normal_meter is None:
        raise DataError(f"meter {meter!r}: give a meter such as 6/8, 4/4, C or C|")
    if normal_key is None:
        raise DataError(f"key {key!r}: give a tonic and mode such as G, Am, Ddor or Bb")
    unit = unit or (units or {}).get(normal_meter) or default_unit(normal_meter)
    if not re.fullmatch(r"1/(1|2|4|8|16|32|64)", unit):
        raise DataError(f"unit length {unit!r}: give one such as 1/8 or 1/16")
    return f"M:{normal_meter}\nL:{unit}\nK:{normal_key}\n"


def unseen(checkpoint: str | Path, meter: str, key: str) -> list[str]:
    """What the model never saw in training: the meter, the key (from ``tunes.json``)."""
    record = load_record(checkpoint) or {"meters": {}, "keys": {}}
    gaps = []
    if record["meters"] and normalise_meter(meter) not in record["meters"]:
        gaps.append(f"meter {meter} (it saw {', '.join(list(record['meters'])[:8])})")
    if record["keys"] and normalise_key(key) not in record["keys"]:
        gaps.append(f"key {key} (it saw {', '.join(list(record['keys'])[:8])})")
    return gaps


def compose(
    model: Any,
    head: str,
    n: int,
    *,
    seed: int,
    temperature: float = 1.0,
    max_length: int = 2000,
) -> list[Composed]:
    """``n`` tunes after ``head``; tune ``i`` is drawn with seed ``seed + i``, so one tune can
    be drawn again alone. A tune stops at a blank line or after ``max_length`` characters."""
    from rnnkit.apps.language_model import generate_iter

    tunes = []
    for i in range(n):
        body, finished = "", False
        pieces = generate_iter(model, "\n\n" + head, max_length, temperature=temperature,
                               seed=seed + i)  # fmt: skip
        for piece in pieces:
            body += piece
            if "\n\n" in body:  # the blank line that ends a tune in the corpus
                body, finished = body[: body.index("\n\n")], True
                break
        text = head + body.strip("\n")
        tunes.append(Composed(text, check_tune(text), finished))
    return tunes


def write_tune(path: Path, number: int, tune: Composed, fmt: str) -> Path | None:
    """Write tune ``number`` to ``path`` (its suffix added) as ABC, MIDI or MusicXML; None when
    music21 cannot read the tune or write it as MIDI or MusicXML."""
    from rnnkit.durable import atomic_write

    target = path.with_suffix(SUFFIXES[fmt])
    abc = f"X:{number}\nT:rnnkit tune {number}\n{tune.text}\n"
    if fmt == "abc":
        atomic_write(target, lambda tmp: Path(tmp).write_text(abc, "utf-8"))
        return target
    score = parse_score(abc)
    if isinstance(score, str):
        return None
    kind = "midi" if fmt == "midi" else "musicxml"
    try:
        with quiet():
            atomic_write(target, lambda tmp: score.write(kind, fp=tmp))
    except Exception:  # music21 read it but cannot write it (e.g. a meter change it trips on)
        return None
    return target
