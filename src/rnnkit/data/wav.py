"""WAV files in, 16 kHz mono float32 out: the one way audio enters rnnkit.

:func:`read_wav` (a file) and :func:`decode_wav` (bytes in memory: an upload) read integer
PCM (8-bit unsigned, 16-, 24- and 32-bit signed) with the standard library's ``wave``, mix
every channel down to one (their mean) and resample to ``rate`` with :func:`resample`.
Anything else is refused in one line naming the file: a file that is not WAV, a compressed or
floating-point WAV, an empty one, or one longer than ``max_seconds`` (read whole into memory,
so a day-long recording is refused, not swapped in).

:func:`resample` is band-limited interpolation (Smith's windowed sinc): output sample ``n`` is
at input time ``t_n = n · source / target``, and

.. math::
    y_n = \\sum_k x_k \\, h(t_n - k), \\qquad
    h(d) = f_c \\operatorname{sinc}(f_c d) \\, w(d / Z_h),

with cutoff ``f_c = ROLLOFF · min(1, target / source)`` (in units of the input's Nyquist
rate, so downsampling removes what the output cannot hold instead of folding it back as an
alias), a Kaiser window ``w`` and ``Z_h = ZEROS / f_c`` input samples of support on each side.
For rational ``target / source = L / M``, ``t_n - k`` takes only ``L`` fractional values, so
the taps are one table of ``L`` phases computed once; for the common rates the L outputs of
each block of M inputs are one matrix product, for any other the sum is gathered.
"""

from __future__ import annotations

import functools
import io
import math
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from rnnkit.checks import check_int, check_positive, check_regular_file
from rnnkit.errors import DataError

__all__ = ["MAX_SECONDS", "RATE", "decode_wav", "read_wav", "resample"]

RATE = 16_000  # what every feature is computed at
MAX_SECONDS = 600.0  # longest file read (10 minutes of 16-bit stereo 48 kHz: 115 MB)
ZEROS = 16  # sinc zero crossings on each side of the resampling kernel
ROLLOFF = 0.9  # cutoff / the lower Nyquist rate: flat to 0.75, -3 dB at 0.88, -80 dB past 1
KAISER_BETA = 8.6  # Kaiser window shape: ~80 dB stopband
CHUNK = 1 << 16  # output samples resampled at once (bounds the (chunk, taps) gather)
MAX_BLOCK = 1 << 22  # largest (L, W) filter bank of the fast path: 16 MB; rarer rates gather


def read_wav(path: str | Path, *, rate: int = RATE, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The samples of a PCM WAV file, as (N,) float32 in [-1, 1] at ``rate`` Hz, mono.

    Raises:
        DataError: one line naming the file: missing, not a file, empty, not a PCM WAV file,
            no samples, or longer than ``max_seconds``.
    """
    check_int("rate", rate, 1)
    check_positive("max_seconds", max_seconds)
    path = Path(path)
    try:
        check_regular_file(path, "a WAV file")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except ValueError as e:
        raise DataError(str(e)) from None
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: empty file, expected a WAV file")
    with path.open("rb") as stream:
        return _decode(stream, str(path), size, rate, max_seconds)


def decode_wav(
    data: bytes, *, name: str = "the WAV file", rate: int = RATE,
    max_seconds: float = MAX_SECONDS,
) -> np.ndarray:  # fmt: skip
    """The samples of a PCM WAV file held in memory (an upload), as :func:`read_wav` reads a
    file; ``name`` is what an error calls it.

    Raises:
        DataError: one line naming ``name``: empty, not a PCM WAV file, no samples, or longer
            than ``max_seconds``.
    """
    check_int("rate", rate, 1)
    check_positive("max_seconds", max_seconds)
    if not data:
        raise DataError(f"{name}: empty file, expected a WAV file")
    return _decode(io.BytesIO(data), name, len(data), rate, max_seconds)


def _decode(stream: BinaryIO, name: str, size: int, rate: int, max_seconds: float) -> np.ndarray:
    """The WAV of ``size`` bytes in ``stream`` -> (N,) float32 mono at ``rate`` (one-line
    :class:`DataError` naming ``name``)."""
    try:
        with wave.open(stream, "rb") as f:
            channels, width, source = f.getnchannels(), f.getsampwidth(), f.getframerate()
            # a header written while streaming claims the most frames (0xFFFFFFFF bytes): the
            # file's size bounds what it holds
            frames = min(f.getnframes(), size // (channels * width))
            if source < 1:
                raise DataError(f"{name}: sample rate {source} Hz in the header")
            if frames / source > max_seconds:  # before reading a byte of audio
                raise DataError(f"{name}: {frames / source:.1f} s of audio, longer than the "
                                f"{max_seconds:g} s a file may hold (split it)")  # fmt: skip
            data = f.readframes(frames)
    except (wave.Error, EOFError) as e:
        why = str(e) or "it ends inside its header"
        raise DataError(f"{name}: not a PCM WAV file ({why}); convert it to 16-bit PCM") from None
    samples = pcm_to_float(data, width, channels)  # (N, C)
    if not len(samples):
        raise DataError(f"{name}: holds no audio (0 samples)")
    return resample(samples.mean(axis=1, dtype=np.float32), source, rate)


def pcm_to_float(data: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved PCM bytes -> (N, channels) float32 in [-1, 1]; a trailing part frame (a
    file cut short) is dropped."""
    frame = width * channels
    data = data[: len(data) - len(data) % frame]
    if width == 1:  # 8-bit WAV is unsigned, silence at 128
        values = np.frombuffer(data, np.uint8).astype(np.float32) - 128.0
    elif width == 3:  # 24-bit: widen each little-endian triple to int32 (sign in the top byte)
        triples = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        values = (triples[:, 0] << 8 | triples[:, 1] << 16 | triples[:, 2] << 24) >> 8
    else:
        values = np.frombuffer(data, {2: "<i2", 4: "<i4"}[width])
    scale = float(1 << (8 * width - 1))  # full scale of a signed sample of this width
    return (values.astype(np.float32) / scale).reshape(-1, channels)


def resample(x: np.ndarray, source: int, target: int) -> np.ndarray:
    """(N,) samples at ``source`` Hz -> (ceil(N · target / source),) at ``target`` Hz, band
    limited (see the module docstring); the same array when the rates are equal."""
    check_int("source rate", source, 1)
    check_int("target rate", target, 1)
    if source == target:
        return x.astype(np.float32, copy=False)
    g = math.gcd(source, target)
    L, M = target // g, source // g  # t_n = n M / L input samples
    n_out = -(-len(x) * L // M)
    if L * (M + 2 * phase_table(L, M)[1] + 1) <= MAX_BLOCK:
        return _resample_blocks(x, L, M)[:n_out]
    return _resample_gather(x, L, M, n_out)


def _resample_gather(x: np.ndarray, L: int, M: int, n_out: int) -> np.ndarray:
    """The sum of the module docstring, output by output: any L / M."""
    table, K = phase_table(L, M)  # (L, 2K + 1): the taps of each fractional offset
    padded = np.concatenate([np.zeros(K), x, np.zeros(K + 1)])  # x_k = padded[k + K]
    out = np.empty(n_out, np.float32)
    offsets = np.arange(-K, K + 1)  # (2K + 1,): taps k = q + j for j in [-K, K]
    for start in range(0, n_out, CHUNK):
        n = np.arange(start, min(start + CHUNK, n_out))
        q, phase = np.divmod(n * M, L)  # t_n = q + phase / L
        taps = padded[q[:, None] + offsets + K]  # (chunk, 2K + 1)
        out[start : start + len(n)] = np.einsum("nj,nj->n", taps, table[phase])
    return out


def _resample_blocks(x: np.ndarray, L: int, M: int) -> np.ndarray:
    """The same sum as one matrix product (several times faster): outputs ``n = r + L m``
    read inputs from ``M m + q_r - K`` on with the taps of phase ``r M mod L``, so the L
    outputs of block m are one (L, W) filter bank applied to the W inputs from ``M m - K``.
    Returns whole blocks."""
    weight, K = block_filters(L, M)  # (W, L)
    blocks = -(-len(x) // M)
    padded = np.zeros(blocks * M + len(weight), np.float32)
    padded[K : K + len(x)] = x  # x_k = padded[k + K]
    windows = torch.from_numpy(padded).unfold(0, len(weight), M)[:blocks]  # (blocks, W) view
    bank, step = torch.from_numpy(weight), max(1, CHUNK // L)  # the product copies its windows
    # torch's product, not NumPy's: OpenBLAS wakes all its threads for each small product, and
    # from a pool of feature workers (or on a busy machine) that was 10-50x slower
    out = [windows[b : b + step] @ bank for b in range(0, blocks, step)]  # (step, L) each
    return torch.cat(out).reshape(-1).numpy()  # order r + L m


@functools.lru_cache(maxsize=8)
def block_filters(L: int, M: int) -> tuple[np.ndarray, int]:
    """(W, L): column r holds the taps of output r of a block, from its first input
    ``q_r = r M // L`` on."""
    table, K = phase_table(L, M)
    q, phase = np.divmod(np.arange(L) * M, L)
    weight = np.zeros((int(q[-1]) + 2 * K + 1, L), np.float32)
    for r in range(L):
        weight[q[r] : q[r] + 2 * K + 1, r] = table[phase[r]]
    return weight, K


@functools.lru_cache(maxsize=8)
def phase_table(L: int, M: int) -> tuple[np.ndarray, int]:
    """The kernel ``h(p / L - j)`` for each phase p in [0, L) and tap j in [-K, K]: (L, 2K + 1)
    and K, the taps on each side."""
    fc = ROLLOFF * min(1.0, L / M)
    half = ZEROS / fc  # the kernel's support on each side, in input samples
    K = math.ceil(half)
    d = np.arange(L)[:, None] / L - np.arange(-K, K + 1)[None, :]  # (L, 2K + 1) distances
    inside = np.clip(1 - (d / half) ** 2, 0, None)
    window = np.i0(KAISER_BETA * np.sqrt(inside)) / np.i0(KAISER_BETA) * (np.abs(d) <= half)
    return fc * np.sinc(fc * d) * window, K
