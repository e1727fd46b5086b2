"""Is it music? Measurable properties of a tune in ABC, read through music21.

For one tune (:func:`check_tune`): whether music21 parses it; its bars and how many have the
meter's duration; whether its last note is the key's tonic; its lowest and highest pitch.
For many (:func:`summarise`): the share that parse, the share of their bars that match the
meter, the share that end on the tonic, and the pitch ranges' quartiles, so sampled tunes can
stand beside the training tunes' own figures.

A bar matches when it lasts one full bar of the meter in force. Tunes begin with a pickup and
end with the rest of that bar, and sections do the same at a double bar or repeat, so a short
bar also counts when it is the first or last bar, or when it and a neighbour together make one
full bar (the end of one section and the pickup of the next).
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from rnnkit.data.abc import MUSIC_EXTRA, normalise_key
from rnnkit.errors import DataError

__all__ = ["TuneCheck", "check_tune", "matching_bars", "parse_score", "summarise",
           "tonic_pitch_class"]  # fmt: skip


@dataclass(frozen=True)
class TuneCheck:
    """What music21 makes of one tune (all zero / None when it does not parse)."""

    parses: bool
    bars: int = 0
    matching: int = 0  # bars of the meter's duration (pickups allowed, see the module)
    ends_on_tonic: bool = False
    low: int | None = None  # MIDI numbers of the lowest and highest note
    high: int | None = None
    error: str = ""  # why music21 refused it

    @property
    def pitch_range(self) -> int | None:
        """Semitones from the lowest note to the highest."""
        return None if self.low is None or self.high is None else self.high - self.low


def matching_bars(durations: Sequence[Fraction], full: Sequence[Fraction]) -> list[bool]:
    """Which bars match their meter: bar ``i`` lasts ``durations[i]`` where a full bar lasts
    ``full[i]``; a short first or last bar matches (a pickup and its complement), as does a
    short bar that completes a full bar with a short neighbour (a section's end and pickup)."""
    n = len(durations)
    short = [0 < d < f for d, f in zip(durations, full, strict=True)]
    result = []
    for i, (d, f) in enumerate(zip(durations, full, strict=True)):
        pair = any(
            0 <= j < n and short[i] and short[j] and durations[i] + durations[j] == f
            for j in (i - 1, i + 1)
        )
        result.append(d == f or (short[i] and i in (0, n - 1)) or pair)
    return result


def tonic_pitch_class(key: str) -> int | None:
    """``"G"`` -> 7, ``"Bb"`` -> 10, ``"F#m"`` -> 6 (the key's tonic: the mode's final)."""
    normal = normalise_key(key)
    if normal is None:
        return None
    letter, accidental = normal[0], normal[1:2] if normal[1:2] in ("#", "b") else ""
    base = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter]
    return (base + {"#": 1, "b": -1, "": 0}[accidental]) % 12


def check_tune(text: str) -> TuneCheck:
    """The properties of one tune (``M:``/``L:``/``K:`` lines and a body, as in a corpus).

    Raises:
        DataError: music21 is not installed (one line naming the extra).
    """
    abc = text if text.lstrip().startswith("X:") else "X:1\n" + text
    stream = parse_score(abc)
    if isinstance(stream, str):
        return TuneCheck(False, error=stream)
    durations, full = _bars(abc)
    keys = re.findall(r"K:([^\]\n]*)", text)  # the key in force at the end
    tonic = tonic_pitch_class(keys[-1]) if keys else None
    notes = [p.midi for n in stream.recurse().notes for p in n.pitches]
    last = min(p.midi for p in stream.recurse().notes[-1].pitches) if notes else None
    return TuneCheck(
        True,
        len(durations),
        sum(matching_bars(durations, full)),
        last is not None and tonic is not None and last % 12 == tonic,
        min(notes) if notes else None,
        max(notes) if notes else None,
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """music21 warns, on stderr and through warnings, about each odd token it skips: a
    sampled tune's checks would bury the command's own lines."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def parse_score(abc: str) -> Any:
    """music21's score of a tune, or the one-line reason it refused it."""
    try:
        from music21 import converter
    except ImportError:
        raise DataError(MUSIC_EXTRA) from None
    try:
        with quiet():
            return converter.parse(abc, format="abc")
    except Exception as e:  # any refusal of music21's is the tune's failure
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _bars(abc: str) -> tuple[list[Fraction], list[Fraction]]:
    """Each written bar's duration and its meter's full bar, in quarter notes.

    Read from music21's ABC tokens (a line end closes a bar), not from its score: the score
    re-bars an over-long bar into a full one and a remainder, which would hide the very error
    this looks for. A note lasts its token's length, scaled by an open tuplet's ratio; grace
    notes last nothing.
    """
    from music21 import abcFormat

    handler = abcFormat.ABCHandler()
    with quiet():
        handler.process(_bar_at_line_ends(abc))
    durations: list[Fraction] = []
    full: list[Fraction] = []
    bar, current = None, Fraction(0)
    for token in handler.tokens:
        if isinstance(token, abcFormat.ABCMetadata) and token.isMeter():
            meter = token.getTimeSignatureObject()
            bar = Fraction(meter.barDuration.quarterLength) if meter is not None else None
        elif isinstance(token, abcFormat.ABCNote) and not token.inGrace:  # chords too
            tuplet = token.activeTuplet
            scale = Fraction(tuplet.numberNotesNormal, tuplet.numberNotesActual) if tuplet else 1
            current += Fraction(token.quarterLength).limit_denominator(10**6) * scale
        elif isinstance(token, abcFormat.ABCBar) and current > 0 and bar is not None:
            durations.append(current)
            full.append(bar)
            current = Fraction(0)
    if current > 0 and bar is not None:  # notes after the last bar line
        durations.append(current)
        full.append(bar)
    return durations, full


def _bar_at_line_ends(abc: str) -> str:
    """Music lines ended by a bar line where they lack one: the Essen collection writes one
    phrase a line and leaves the bar line at its end implied."""
    lines = abc.split("\n")
    return "\n".join(
        line + " |" if line.strip() and not re.match(r"[A-Za-z+]:", line)
        and not re.search(r"[|:\]]\s*$", line) else line
        for line in lines
    )  # fmt: skip


def summarise(checks: Sequence[TuneCheck]) -> dict[str, Any]:
    """Shares over tunes: parsing, bars matching (of the parsed tunes' bars), ending on the
    tonic (of the parsed), and the quartiles of the pitch range in semitones."""
    parsed = [c for c in checks if c.parses]
    bars = sum(c.bars for c in parsed)
    ranges = sorted(c.pitch_range for c in parsed if c.pitch_range is not None)
    quartile = lambda q: ranges[min(len(ranges) - 1, int(q * len(ranges)))] if ranges else None  # noqa: E731
    return {
        "tunes": len(checks),
        "parse": len(parsed) / len(checks) if checks else 0.0,
        "bars": bars,
        "bars_match": sum(c.matching for c in parsed) / bars if bars else 0.0,
        "end_on_tonic": sum(c.ends_on_tonic for c in parsed) / len(parsed) if parsed else 0.0,
        "range_quartiles": [quartile(q) for q in (0.25, 0.5, 0.75)],
        "low": min((c.low for c in parsed if c.low is not None), default=None),
        "high": max((c.high for c in parsed if c.high is not None), default=None),
    }
