"""Spoken digit strings for CTC: espeak-ng voices, log-mel features, and a user's recordings.

Synthesis (:func:`spoken_digits`): strings of ``min_digits``–``max_digits`` digits, spoken as
words ("three one four" for ``314``) rather than as espeak-ng reads a number ("three hundred
and fourteen"): one word per label, whatever the voice's rules for numbers, so the label string
is exactly what is said. Each utterance draws a voice of its split, a speed (words per minute)
and a pitch; everything is drawn from one NumPy generator, so a seed gives the same utterances.

A voice is an accent and a variant (``en-us+m3``: the American accent, variant m3). The split
of voices is fixed::

    train  accents ACCENTS["train"] x variants VARIANTS["train"]
    valid  accents ACCENTS["train"] x variants VARIANTS["valid"]   (new speakers)
    test   accents ACCENTS["test"]  x variants VARIANTS["test"]    (new accents and speakers)

so no test voice shares its accent or its variant with a training voice.

Each utterance's WAV is cached under ``cache_dir`` (default ``$XDG_CACHE_HOME/rnnkit/speech``)
in a file named by a hash of espeak-ng's version, the voice, speed, pitch and text: a second
run, or a run that draws the same utterance again, does not synthesise it again.

Features (:func:`log_mel`): 25 ms Hann windows every 10 ms at 16 kHz, the power spectrum
folded into ``n_mels`` triangular bands equally spaced on the mel scale (HTK's
``mel(f) = 2595 log10(1 + f / 700)``) between ``FMIN`` and ``FMAX``, its log, then each band
normalised to mean 0 and variance 1 over the utterance (which removes the loudness and most of
a microphone's colour). Recordings a user brings (:func:`read_transcripts`) go the same way:
:func:`rnnkit.data.wav.read_wav`, then :func:`log_mel`; to train on them, a job lists them
(:func:`list_recordings`), derives or checks the alphabet (:func:`derive_alphabet`,
:func:`label_recordings`), splits them by file (:func:`split_recordings`) and reads each part
(:func:`read_recordings`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import check_choice, check_int
from rnnkit.data.text import read_lines
from rnnkit.data.wav import RATE, read_wav
from rnnkit.errors import DataError, RnnkitError

DIGITS = "0123456789"  # the alphabet of spoken digit strings
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SAID = {**{w: str(d) for d, w in enumerate(WORDS)}, "oh": "0"}  # words a transcript may use
INSTALL = "espeak-ng is not installed: apt-get install espeak-ng (Debian/Ubuntu)"

N_MELS = 40  # mel bands
WINDOW = 400  # samples in a 25 ms window at 16 kHz
HOP = 160  # samples between windows: 10 ms
N_FFT = 512  # the window zero-padded to a power of two
FMIN, FMAX = 20.0, 8000.0  # the bands' range in Hz (8 kHz: the Nyquist rate at 16 kHz)
LOG_FLOOR = 1e-6  # added to a band's energy before the log: digital silence stays finite
STD_FLOOR = 1e-3  # smallest std a band is divided by: one that never changes stays near 0

SPLITS = ("train", "valid", "test")
# en-029 (Caribbean) trains: it says "three" as "tree", a word no other accent has, so holding
# it out would test an unheard word, not an unheard voice
ACCENTS = {
    "train": ("en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-us-nyc", "en-029"),
    "test": ("en-gb-scotland", "en-gb-x-gbcwmd"),  # Scottish, West Midlands: only in testing
}
ACCENTS["valid"] = ACCENTS["train"]
# shelby trains: its F2 raised 40 % with F1 lowered is the one voice of its kind, so held
# out it would measure extrapolation to it rather than generalisation across speakers
VARIANTS = {
    "train": ("m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "klatt", "klatt2",
              "klatt3", "adam", "david", "edward", "john", "linda", "paul", "steph", "anika",
              "shelby"),
    "valid": ("m7", "f4", "klatt4", "robert", "belinda"),
    "test": ("m8", "f5", "klatt5", "iven", "max"),
}  # fmt: skip
SPEED = (140, 210)  # words per minute, uniform (espeak-ng's default is 175)
PITCH = (25, 75)  # espeak-ng's pitch in [0, 99], uniform (default 50)


@dataclass
class Utterances:
    """Utterances and their transcripts.

    Attributes:
        features: one (T_i, n_mels) float32 tensor per utterance (:func:`log_mel`).
        labels: each transcript over the alphabet, e.g. ``"314"``.
        sources: where each came from: ``"en-us+m3 s=160 p=45"`` or the WAV file's path.
    """

    features: list[Tensor]
    labels: list[str]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def images(self) -> list[Tensor]:
        """Each utterance as an (n_mels, T_i) "image" read frame by frame (time as columns),
        what :class:`rnnkit.tasks.ctc.CTCRecognizer` reads (made once: batches index it)."""
        return [f.T.contiguous() for f in self.features]

    def label_ids(self, alphabet: str = DIGITS) -> list[list[int]]:
        """Each label as ids into ``alphabet`` (0-based; a CTC model adds its blank)."""
        return [[alphabet.index(c) for c in label] for label in self.labels]


# -- features ------------------------------------------------------------------------------


def mel(f: np.ndarray | float) -> np.ndarray:
    """Hz -> mel (HTK): ``2595 log10(1 + f / 700)``, so 1000 Hz is 999.99 mel."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """mel -> Hz, the inverse of :func:`mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS) -> np.ndarray:
    """(N_FFT // 2 + 1, n_mels): band m is a triangle over frequency rising from edge m to
    its peak at edge m + 1 and falling to edge m + 2, for ``n_mels + 2`` edges equally spaced
    in mel from FMIN to FMAX; the weights of neighbouring bands sum to 1 between the peaks."""
    edges = mel_to_hz(np.linspace(mel(FMIN), mel(FMAX), n_mels + 2))  # (n_mels + 2,) Hz
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT  # (F,) each FFT bin's frequency
    lo, peak, hi = edges[:-2], edges[1:-1], edges[2:]  # (n_mels,) each
    rising = (freqs[:, None] - lo) / (peak - lo)
    falling = (hi - freqs[:, None]) / (hi - peak)
    return np.clip(np.minimum(rising, falling), 0, None).astype(np.float32)


def log_mel(samples: np.ndarray, *, n_mels: int = N_MELS, normalise: bool = True) -> Tensor:
    """(N,) samples at 16 kHz -> (T, n_mels) float32 log-mel energies (module docstring).

    T = 1 + ceil((N - WINDOW) / HOP) (at least 1): the end is padded with zeros to a whole
    window. With ``normalise`` each band has mean 0 and variance 1 over the T frames (a band
    that never changes is all 0).
    """
    check_int("n_mels", n_mels, 1)
    T = 1 + max(0, -(-(len(samples) - WINDOW) // HOP))
    padded = np.zeros(WINDOW + (T - 1) * HOP, np.float32)
    padded[: len(samples)] = samples[: len(padded)]
    frames = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP]  # (T, WINDOW)
    hann = np.hanning(WINDOW + 1)[:-1].astype(np.float32)  # periodic: overlap-adds to a constant
    power = np.abs(np.fft.rfft(frames * hann, N_FFT)).astype(np.float32) ** 2  # (T, F)
    bands = torch.from_numpy(power) @ torch.from_numpy(mel_filterbank(n_mels))  # see wav.py
    energies = np.log(bands.numpy().astype(np.float64) + LOG_FLOOR)  # (T, n_mels)
    if normalise:  # float64: a constant band's rounding is not magnified into a value
        energies = (energies - energies.mean(0)) / np.maximum(energies.std(0), STD_FLOOR)
    return torch.from_numpy(energies.astype(np.float32))


def wav_features(path: str | Path, *, n_mels: int = N_MELS) -> Tensor:
    """A WAV file's (T, n_mels) features: :func:`~rnnkit.data.wav.read_wav` (16 kHz mono),
    then :func:`log_mel`. Raises :class:`~rnnkit.errors.DataError` naming a bad file."""
    return log_mel(read_wav(path), n_mels=n_mels)


# -- synthesis -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spoken:
    """One utterance to synthesise: the digits, and how they are said."""

    digits: str
    voice: str  # accent+variant, e.g. "en-us+m3"
    speed: int  # words per minute
    pitch: int  # 0-99

    @property
    def text(self) -> str:
        """What espeak-ng is asked to say: the digits as words."""
        return " ".join(WORDS[int(d)] for d in self.digits)

    def describe(self) -> str:
        return f"{self.voice} s={self.speed} p={self.pitch}"


def voices(split: str) -> list[str]:
    """The voices of ``split`` ("train", "valid" or "test"): accent+variant."""
    check_choice("split", split, SPLITS)
    return [f"{a}+{v}" for a in ACCENTS[split] for v in VARIANTS[split]]


def draw_spoken(
    split: str, count: int, *, seed: int, min_digits: int = 3, max_digits: int = 8
) -> list[Spoken]:
    """``count`` random utterances of ``split``'s voices (see :func:`spoken_digits`)."""
    check_int("count", count, 0)
    check_int("min_digits", min_digits, 1)
    check_int("max_digits", max_digits, min_digits)
    pool, rng = voices(split), np.random.default_rng(seed)
    drawn = []
    for _ in range(count):
        digits = "".join(map(str, rng.integers(0, 10, rng.integers(min_digits, max_digits + 1))))
        voice = pool[rng.integers(len(pool))]
        speed, pitch = rng.integers(SPEED[0], SPEED[1] + 1), rng.integers(PITCH[0], PITCH[1] + 1)
        drawn.append(Spoken(digits, voice, int(speed), int(pitch)))
    return drawn


def spoken_digits(
    split: str,
    count: int,
    *,
    seed: int,
    min_digits: int = 3,
    max_digits: int = 8,
    n_mels: int = N_MELS,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
) -> Utterances:
    """Digit strings spoken by espeak-ng in ``split``'s voices, as log-mel features.

    Args:
        split: "train", "valid" or "test": whose voices speak (module docstring).
        count: number of utterances (>= 0).
        seed: seeds the one generator every draw (digits, voice, speed, pitch) comes from.
        min_digits: fewest digits in an utterance (>= 1).
        max_digits: most digits (>= ``min_digits``).
        n_mels: mel bands of the features.
        cache_dir: where the WAV files are kept (default :func:`default_cache_dir`).
        workers: espeak-ng processes run at once (default: one per CPU).

    Raises:
        RnnkitError: espeak-ng is missing (with the command that installs it) or failed.
    """
    check_int("n_mels", n_mels, 1)  # before minutes of synthesis, not after
    check_int("workers", workers, 1, optional=True)
    drawn = draw_spoken(split, count, seed=seed, min_digits=min_digits, max_digits=max_digits)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    paths = synthesise(drawn, cache, workers=workers)
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        features = list(pool.map(lambda path: wav_features(path, n_mels=n_mels), paths))
    return Utterances(features, [s.digits for s in drawn], [s.describe() for s in drawn])


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rnnkit/speech`` (``~/.cache/rnnkit/speech`` when unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnkit" / "speech"


@lru_cache(maxsize=1)
def espeak_version() -> str:
    """espeak-ng's version line (part of every cache key); raises the install hint if it is
    missing."""
    if shutil.which("espeak-ng") is None:
        raise RnnkitError(INSTALL)
    return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def cache_path(spoken: Spoken, cache_dir: Path) -> Path:
    """Where ``spoken``'s WAV is kept: named by a hash of everything that shapes the sound."""
    key = "\0".join([espeak_version(), spoken.voice, str(spoken.speed), str(spoken.pitch),
                     spoken.text])  # fmt: skip
    return cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.wav"


def synthesise(
    drawn: Sequence[Spoken], cache_dir: Path, *, workers: int | None = None
) -> list[Path]:
    """The WAV file of each utterance, synthesising only those not already in ``cache_dir``."""
    paths = [cache_path(s, cache_dir) for s in drawn]
    missing = {p: s for p, s in zip(paths, drawn, strict=True) if not p.exists()}
    if missing:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RnnkitError(f"{cache_dir}: cannot hold the speech cache ({e.strerror}); "
                              f"choose another with XDG_CACHE_HOME") from None  # fmt: skip
        with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
            list(pool.map(say, missing.values(), missing.keys()))
    return paths


def say(spoken: Spoken, path: Path) -> None:
    """Run espeak-ng once, into a temporary file renamed into place: a cache file is whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    command = ["espeak-ng", "-v", spoken.voice, "-s", str(spoken.speed), "-p", str(spoken.pitch),
               "-w", str(tmp), spoken.text]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise RnnkitError(INSTALL) from None
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise RnnkitError(f"espeak-ng took over 120 s to say {spoken.text!r}") from None
    if done.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RnnkitError(f"espeak-ng failed for voice {spoken.voice}: {why}")
    os.replace(tmp, path)


# -- a user's recordings -------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One line of a transcript list: where it is, its WAV file and its transcript as written."""

    where: str  # "LIST:LINE", what an error about this line starts with
    path: Path
    said: str


def read_transcripts(
    list_path: str | Path,
    *,
    folder: str | Path | None = None,
    alphabet: str = DIGITS,
    n_mels: int = N_MELS,
) -> Utterances:
    """Recordings listed one per line as ``file<TAB>transcript`` (the layout of common speech
    corpora), as features; the files are read with :func:`rnnkit.data.wav.read_wav`.

    A file is relative to ``folder`` (default: the list's own folder). Blank lines are skipped.
    A transcript may separate its symbols with spaces (dropped unless the alphabet holds a
    space) and, for the digit alphabet, say them as words ("three one four" or "3 1 4").
    Every line is checked before any audio is read.

    Raises:
        DataError: one line naming the list, the line number and what is wrong: no tab, an
            empty transcript, a symbol outside the alphabet, a missing or unreadable WAV file.
    """
    listed = list_recordings(list_path, folder=folder)
    return read_recordings(listed, label_recordings(listed, alphabet), n_mels=n_mels)


def list_recordings(list_path: str | Path, *, folder: str | Path | None = None) -> list[Listed]:
    """The lines of a ``file<TAB>transcript`` list, each naming a file that exists (the
    transcripts are not read yet: :func:`label_recordings`). Raises a one-line
    :class:`DataError` naming the list and the line."""
    list_path = Path(list_path)
    base = Path(folder) if folder is not None else list_path.parent
    listed = []
    # read_lines: a missing, binary, huge or mis-encoded list is one line naming it
    for line_no, line in enumerate(read_lines(list_path, "a file<TAB>transcript list"), 1):
        if not line.strip():
            continue
        where = f"{list_path}:{line_no}"
        name, tab, said = line.partition("\t")
        if not tab or not name.strip():
            raise DataError(f"{where}: expected file<TAB>transcript, got {line[:60]!r}")
        path = base / name.strip()
        if not is_file(path):
            raise DataError(f"{where}: {path}: no such file")
        listed.append(Listed(where, path, said))
    if not listed:
        raise DataError(f"{list_path}: no recordings listed (expected file<TAB>transcript lines)")
    return listed


def is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name the system cannot look up (too long) is not one."""
    try:
        return path.is_file()
    except OSError:
        return False


def label_recordings(listed: Sequence[Listed], alphabet: str) -> list[str]:
    """Each line's transcript as a label string over ``alphabet`` (:func:`transcript`)."""
    return [transcript(entry.said, alphabet, entry.where) for entry in listed]


def derive_alphabet(listed: Sequence[Listed]) -> str:
    """The alphabet the transcripts are written in.

    Transcripts that are all digits, as figures or words ("3 1 4", "three one four", "oh"),
    get :data:`DIGITS` whole (so a model reads "nine" later though no training line said it);
    any other transcripts get their characters, sorted, with a space first when some
    transcript has more than one word (its word boundaries are then labels too).
    """
    words = [w for entry in listed for w in entry.said.split()]
    if all(w.lower() in SAID or set(w) <= set(DIGITS) for w in words):
        return DIGITS
    symbols = sorted({c for w in words for c in w})
    spaced = any(len(entry.said.split()) > 1 for entry in listed)
    return (" " if spaced else "") + "".join(symbols)


def read_recordings(
    listed: Sequence[Listed], labels: Sequence[str], *, n_mels: int = N_MELS,
    min_frames: int = 1,
) -> Utterances:  # fmt: skip
    """The listed WAV files' features (read in parallel) with their labels; a bad file, or one
    of fewer than ``min_frames`` frames, is one :class:`DataError` line naming its list line
    (the first in the list's order)."""

    def read(entry: Listed) -> Tensor:
        try:
            features = wav_features(entry.path, n_mels=n_mels)
        except DataError as e:
            raise DataError(f"{entry.where}: {e}") from None
        if len(features) < min_frames:
            raise DataError(f"{entry.where}: {entry.path}: too short ({len(features)} frames "
                            f"of 10 ms; at least {min_frames} needed)")  # fmt: skip
        return features

    with ThreadPoolExecutor(os.cpu_count()) as pool:  # the first bad file (in order) is raised
        features = list(pool.map(read, listed))
    return Utterances(features, list(labels), [str(entry.path) for entry in listed])


def split_recordings(
    listed: Sequence[Listed], *, valid_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Listed], list[Listed], list[Listed]]:
    """Train, validation and test lines, split by WAV file: a file listed twice stays in one
    part. The files are shuffled by ``seed``; validation takes ``round(valid_fraction · files)``
    of them and test ``round(test_fraction · files)``, each at least one when its fraction is
    above 0. Each part keeps the list's order."""
    files = sorted({str(entry.path) for entry in listed})
    order = np.random.default_rng(seed).permutation(len(files))
    n_valid, n_test = (max(1, round(f * len(files))) if f > 0 else 0
                       for f in (valid_fraction, test_fraction))  # fmt: skip
    valid = {files[i] for i in order[:n_valid]}
    test = {files[i] for i in order[n_valid : n_valid + n_test]}
    part = lambda names: [e for e in listed if str(e.path) in names]  # noqa: E731
    return [e for e in listed if str(e.path) not in valid | test], part(valid), part(test)


def transcript(said: str, alphabet: str, where: str) -> str:
    """A transcript as a label string over ``alphabet`` (see :func:`read_transcripts`)."""
    words = said.split()
    if alphabet == DIGITS:
        words = [SAID.get(w.lower(), w) for w in words]
    label = (" " if " " in alphabet else "").join(words)
    bad = next((c for c in label if c not in alphabet), None)
    if bad is not None:
        raise DataError(f"{where}: symbol {bad!r} in {said.strip()!r} is not in the alphabet "
                        f"{alphabet!r}")  # fmt: skip
    if not label:
        raise DataError(f"{where}: empty transcript")
    return label
