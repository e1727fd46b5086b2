"""Folk tunes in ABC notation: read collections, split them into tunes, normalise them as
FolkRNN did (Sturm et al. 2015), and split by tune for a character language model.

A collection is text with tunes that each begin at an ``X:`` line. A tune keeps only what
its music needs: the meter ``M:``, the unit note length ``L:`` and the key ``K:`` (in that
order, one line each), then its body. Titles, sources, notes, lyrics, comments (``%``),
annotations and chord symbols (``"..."``) and ``!...!`` decorations are dropped; a line that
ends with ``\\`` continues on the next (ABC 2.1, 3.4) and a ``+:`` field continues the one
before it. ``M:C`` is written 4/4 and ``M:C|`` 2/2; a tune without ``L:`` gets the standard's
default (1/16 below a meter of 3/4, else 1/8), so every tune states all three.

Skipped, and counted by reason: tunes without ``K:``, with no, free or unreadable meter,
with a key that is not a tonic and mode (``K:none``, bagpipe keys, explicit accidentals),
with several voices (``V:``), and exact repeats of a tune already read (so no tune can sit
in two splits). Training text is the tunes joined by a blank line, one tune per block.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.lm_corpus import LMCorpus, digest
from rnnkit.data.splits import split_sizes
from rnnkit.data.text import read_text
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import DataError

__all__ = [
    "MUSIC_EXTRA",
    "Tune",
    "TuneCollection",
    "TuneCorpus",
    "corpus_files",
    "load_record",
    "normalise_key",
    "normalise_meter",
    "parse_tunes",
    "read_tunes",
    "split_tunes",
    "tune_corpus",
]

TUNES_NAME, TUNES_FORMAT = "tunes.json", "rnnkit.tunes/1"  # beside a tune model's config.json
MUSIC_EXTRA = 'music21 is needed for tunes: pip install "rnnkit[music]"'
#: music21's corpus folders of single-line folk tunes (josquin's are polyphonic, skipped)
FOLK_COLLECTIONS = ("airdsAirs", "essenFolksong", "oneills1850", "ryansMammoth", "miscFolk",
                    "nottingham-dataset")  # fmt: skip
KEPT = ("M", "L", "K")  # the header fields a normalised tune keeps
MODES = {"": "", "maj": "", "major": "", "ion": "", "ionian": "", "m": "m", "min": "m",
         "minor": "m", "aeo": "m", "aeolian": "m", "mix": "mix", "mixolydian": "mix",
         "dor": "dor", "dorian": "dor", "phr": "phr", "phrygian": "phr", "lyd": "lyd",
         "lydian": "lyd", "loc": "loc", "locrian": "loc"}  # fmt: skip
_KEY = re.compile(r"([A-G][#b]?)\s*(.*)")
_FIELD = re.compile(r"([A-Za-z+]):(?![|:])(.*)")  # not a note before a repeat sign: "e:|"
_DROPPED_IN_BODY = re.compile(r'"[^"\n]*"|![^!\n]*!')  # annotations/chord symbols, decorations


@dataclass(frozen=True)
class Tune:
    """One normalised tune: its three header fields and its body (lines joined by newlines)."""

    meter: str  # "6/8"
    unit: str  # "1/8"
    key: str  # tonic and short mode: "G", "Am", "Ddor"
    body: str

    @property
    def text(self) -> str:
        """The tune as the model reads it: ``M:``, ``L:``, ``K:`` lines, then the body."""
        return f"M:{self.meter}\nL:{self.unit}\nK:{self.key}\n{self.body}"


@dataclass
class TuneCollection:
    """Tunes read from one or more collections, and what was skipped, by reason."""

    tunes: list[Tune]
    skipped: Counter[str] = field(default_factory=Counter)
    files: int = 0

    def describe(self) -> str:
        skips = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"{len(self.tunes)} tunes from {self.files} files" + (
            f" (skipped: {skips})" if skips else ""
        )


def normalise_meter(value: str) -> str | None:
    """``"6/8"`` -> ``"6/8"``, ``"C"`` -> ``"4/4"``, ``"C|"`` -> ``"2/2"``; None when free or
    unreadable (``none``, ``2+3/8``, ``0/4``)."""
    value = value.strip()
    if value in ("C", "C|"):
        return "4/4" if value == "C" else "2/2"
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
    if not match or int(match[1]) == 0 or int(match[2]) not in (1, 2, 4, 8, 16, 32):
        return None
    return f"{int(match[1])}/{int(match[2])}"


def normalise_key(value: str) -> str | None:
    """``"G"``, ``"Gmaj"`` -> ``"G"``; ``"A minor"`` -> ``"Am"``; ``"D Mix"`` -> ``"Dmix"``.

    None for a key that is not a tonic and mode: ``none``, bagpipe ``HP``, a mode the standard
    does not name, or explicit accidentals after it; clef and other ``name=value`` settings
    after the key are dropped.
    """
    match = _KEY.fullmatch(value.strip())
    if not match:
        return None
    words = match[2].split()  # the mode (glued to the tonic or not), then settings
    mode = words.pop(0).lower() if words and "=" not in words[0] else ""
    if mode not in MODES or any("=" not in word for word in words):
        return None
    return match[1] + MODES[mode]


def default_unit(meter: str) -> str:
    """ABC 2.1 (3.1.7): the unit length is 1/16 when the meter is below 3/4, else 1/8."""
    return "1/16" if Fraction(meter) < Fraction(3, 4) else "1/8"


def parse_tunes(text: str, skipped: Counter[str] | None = None) -> list[Tune]:
    """The tunes of one collection's text, normalised; skips are added to ``skipped``.

    Raises:
        DataError: the text has no ``X:`` line at all (not an ABC collection).
    """
    skipped = Counter() if skipped is None else skipped
    blocks = _tune_blocks(text)
    if blocks is None:
        raise DataError("no X: line: an ABC tune starts with an X: reference number line")
    tunes = []
    for lines in blocks:
        tune = _normalise(_join_continuations(lines), skipped)
        if tune is not None:
            tunes.append(tune)
    return tunes


def _tune_blocks(text: str) -> list[list[str]] | None:
    """Each tune's lines (from its ``X:`` line to the blank line or next ``X:`` that ends it),
    comments removed; None when there is no ``X:`` line."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if re.match(r"X:", line):
            current = []
            blocks.append(current)
        elif current is not None and not raw.strip():  # a blank line ends a tune
            current = None
        elif current is not None and (line.strip() or not raw.lstrip().startswith("%")):
            current.append(line)
    return blocks if blocks or re.search(r"(?m)^X:", text) else None


def _strip_comment(line: str) -> str:
    """The line without its ``%`` comment (``\\%`` is a literal percent sign, kept)."""
    match = re.search(r"(?<!\\)%", line)
    return (line[: match.start()] if match else line).rstrip()


def _join_continuations(lines: list[str]) -> list[str]:
    """Join a music line ending with ``\\`` to the next, and a ``+:`` field to the one before."""
    joined: list[str] = []
    open_line = False  # the previous line ended with a backslash
    for line in lines:
        if open_line:
            joined[-1] += line.strip()
        elif line.startswith("+:"):  # continues a field; after music it means nothing
            if joined and _FIELD.match(joined[-1]):
                joined[-1] += " " + line[2:].strip()
        else:
            joined.append(line)
        open_line = bool(joined) and joined[-1].endswith("\\")
        if open_line:
            joined[-1] = joined[-1][:-1]  # the space before it, if any, stays: it beams
    return [line for line in joined if line.strip()]


def _normalise(lines: list[str], skipped: Counter[str]) -> Tune | None:
    """One tune's header fields and body -> a :class:`Tune`, or None (the reason counted)."""
    header: dict[str, str] = {}
    body: list[str] = []
    for line in lines:
        match = _FIELD.match(line)
        if match and match[1] == "V":
            header["V"] = match[2]  # several voices: skipped
        elif match and "K" not in header:  # the header ends at K: (ABC 2.1, 3.1.14)
            header.setdefault(match[1], match[2].strip())
        elif match and match[1] in KEPT:
            body.append(f"{match[1]}:{match[2].strip()}")  # a change of meter/key/unit mid-tune
        elif not match and "K" in header:
            body.append(" ".join(_DROPPED_IN_BODY.sub("", line).split()))
    reason = _problem(header, body)
    if reason is not None:
        skipped[reason] += 1
        return None
    meter, key = normalise_meter(header["M"]), normalise_key(header["K"])
    assert meter is not None and key is not None  # _problem checked both
    unit = header.get("L", "").replace(" ", "") or default_unit(meter)
    return Tune(meter, unit, key, "\n".join(line for line in body if line))


def _problem(header: dict[str, str], body: list[str]) -> str | None:
    """Why a tune is skipped (the count's label), or None when it is kept."""
    if "K" not in header:
        return "without K:"
    if "V" in header:
        return "with several voices"
    if normalise_meter(header.get("M", "none")) is None:
        return "with no or free meter"
    if normalise_key(header["K"]) is None:
        return "with an unknown key"
    if not re.fullmatch(r"(1/\d+)?", header.get("L", "").replace(" ", "")):
        return "with an unknown unit length"
    if not any(re.search(r"[A-Ga-g]", line) for line in body):
        return "without notes"
    return None


def corpus_files() -> list[Path]:
    """The ABC files of music21's folk collections (music21 finds its own corpus)."""
    try:
        from music21 import corpus
    except ImportError:
        raise DataError(MUSIC_EXTRA) from None
    paths = corpus.getPaths(fileExtensions=("abc",))
    return sorted(Path(p) for p in paths if Path(p).parent.name in FOLK_COLLECTIONS)


def read_tunes(source: str | Path | None = None) -> TuneCollection:
    """Tunes of an ``.abc`` file, of every ``.abc`` file under a folder, or (None) of music21's
    folk collections; exact repeats of a tune are dropped (counted as skipped)."""
    if source is None:
        files = corpus_files()
    elif Path(source).is_dir():
        files = sorted(Path(source).rglob("*.abc"))
        if not files:
            raise DataError(f"{source}: no .abc files in this folder")
    else:
        files = [Path(source)]
    skipped: Counter[str] = Counter()
    tunes: list[Tune] = []
    for path in files:
        try:
            tunes += parse_tunes(read_text(path), skipped)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None
    return TuneCollection(_dedupe(tunes, skipped), skipped, len(files))


def _dedupe(tunes: list[Tune], skipped: Counter[str]) -> list[Tune]:
    """The first of each exact repeat (same normalised text), in order."""
    seen: set[str] = set()
    kept = []
    for tune in tunes:
        if tune.text not in seen:
            seen.add(tune.text)
            kept.append(tune)
    if len(tunes) > len(kept):
        skipped["repeated"] += len(tunes) - len(kept)
    return kept


def split_tunes(
    tunes: Sequence[Tune], fractions: tuple[float, ...], *, seed: int
) -> list[list[Tune]]:
    """Tunes shuffled with ``numpy.random.default_rng(seed)`` and cut into splits of
    :func:`~rnnkit.data.splits.split_sizes` (each tune in exactly one split)."""
    order = np.random.default_rng(seed).permutation(len(tunes))
    splits, start = [], 0
    for size in split_sizes(len(tunes), fractions):
        splits.append([tunes[i] for i in order[start : start + size]])
        start += size
    return splits


@dataclass
class TuneCorpus(LMCorpus):
    """A character corpus of tunes (train, valid and test hold different tunes), and the
    meters and keys of its training tunes (what ``rnnkit compose`` may prime with)."""

    meters: dict[str, int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    held_out: list[Tune] = field(default_factory=list)  # the test tunes
    units: dict[str, str] = field(default_factory=dict)  # meter -> its commonest L:

    def save_record(self, out_dir: str | Path) -> None:
        """Write ``OUT/tunes.json``: the model reads tunes (serve shows its music view), the
        meters and keys it saw (compose warns on others) and each meter's commonest ``L:``."""
        from rnnkit.durable import atomic_write

        record = {"format": TUNES_FORMAT, "source": self.source, "meters": self.meters,
                  "keys": self.keys, "units": self.units}  # fmt: skip
        text = json.dumps(record, indent=1)
        atomic_write(Path(out_dir) / TUNES_NAME, lambda tmp: Path(tmp).write_text(text, "utf-8"))


def load_record(checkpoint: str | Path) -> dict[str, Any] | None:
    """``tunes.json`` of a checkpoint directory; None when the model was not trained on tunes.

    Raises:
        DataError: the file is there but is not such a record.
    """
    path = Path(checkpoint) / TUNES_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(record, dict) or record.get("format") != TUNES_FORMAT:
        raise DataError(f"{path}: not a tunes record (format {TUNES_FORMAT!r} expected)")
    for name in ("meters", "keys", "units"):
        if not isinstance(record.get(name, {}), dict):
            raise DataError(f"{path}: {name} must be an object of counts")
    return record


def tune_corpus(source: str | Path | None, valid_fraction: float, seed: int) -> TuneCorpus:
    """Tunes split by tune into train / valid / test (``valid_fraction`` each held out), each
    split the tunes' texts joined by blank lines; the vocabulary is the training tunes'."""
    collection = read_tunes(source)
    name = str(source) if source is not None else "music21's folk tunes"
    if len(collection.tunes) < 3:
        raise DataError(f"{name}: {collection.describe()}; at least 3 tunes are needed")
    fractions = (1 - 2 * valid_fraction, valid_fraction, valid_fraction)
    train, valid, test = split_tunes(collection.tunes, fractions, seed=seed)
    texts = ["\n\n".join(t.text for t in split) + "\n\n" for split in (train, valid, test)]
    vocab = CharVocab.from_text(texts[0])
    encoded = [vocab.encode(text) for text in texts]
    meters = dict(Counter(t.meter for t in train).most_common())
    keys = dict(Counter(t.key for t in train).most_common())
    units = {m: Counter(t.unit for t in train if t.meter == m).most_common(1)[0][0] for m in meters}
    return TuneCorpus(vocab, *encoded, digest(*texts), name, meters, keys, test, units)
