"""Which fused path runs: measured once per machine and problem and cached, or forced.

A fused recurrence can run four ways that compute the same math: its element-wise work on
the compiled step kernels or as torch ops (``loop``), and its forward step GEMM on oneDNN's
packed weights or ``torch.addmm`` (``gemm``). Which is fastest depends on the CPU (AVX2,
AVX-512, AMX), torch's build, the thread count and the problem, so no fixed threshold is
right everywhere. At the first use of a key — the cell kind and its options, steps T (up
to :data:`PROBE_STEPS`), B, H, dtype, training or inference, torch threads, and whether
the kernels can run — the
candidates run :data:`ROUNDS` interleaved rounds on copies of the real tensors' first
:data:`PROBE_STEPS` steps (no RNG draw, no autograd graph, nothing of the caller's
touched), and the fastest median wins if it beat the rule's path (``rule`` below) by
:data:`MARGIN` in every round — a busy machine's noise must not persist a slower path —
else the rule's path is kept. The choice is kept in memory and in ``fused_paths.json``
under the cache directory, for this CPU and torch version.

``RNNKIT_FUSED_PATH`` (or :func:`forced`, which takes precedence) picks the mode:

==================  ==================================================================
``auto`` (default)  measure at first use, as above
``rule``            the fixed rule: the kernels where they can take the tensors; packed
                    GEMM for float32 batches of ``gemm.MIN_PACKED_BATCH`` rows or more
``compiled``        the compiled kernels (where they can take the tensors), GEMM by rule
``torch``           the torch-op loops, GEMM by rule
``LOOP/GEMM``       e.g. ``torch/packed``, ``compiled/addmm``: both forced
``step``            no fused path: the generic loop over ``cell.step``
==================  ==================================================================

A forced loop or GEMM the tensors cannot take (the kernels need contiguous float32/64
CPU tensors, packing float32 on CPU) falls back to what can run. The cache directory is
``RNNKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``. A cache
file that cannot be read, or was written by another version or on another machine, is
ignored with a one-line warning and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path as FilePath

import torch

ENV_PATH = "RNNKIT_FUSED_PATH"
ENV_CACHE = "RNNKIT_CACHE_DIR"
FILE_NAME = "fused_paths.json"
FORMAT = "rnnkit.fused-path-choice"
VERSION = 1

#: Steps of the real input a probe runs (longer sequences share the choice of T = this).
PROBE_STEPS = 8
#: Interleaved timing rounds per candidate, after one warm-up call each.
ROUNDS = 5
#: How much faster than the rule's path, in every round, another path must be to replace it.
MARGIN = 0.03

LOOPS = ("compiled", "torch")
GEMMS = ("packed", "addmm")
CANDIDATES = tuple(f"{loop}/{gemm}" for loop in LOOPS for gemm in GEMMS)
MODES = ("auto", "rule", "step", *LOOPS, *CANDIDATES)

_FORCED: ContextVar[str | None] = ContextVar("rnnkit_fused_path", default=None)
_clock = time.perf_counter  # tests substitute a fake clock
_MEMORY: dict[FilePath, dict[str, dict]] = {}  # cache file -> its choices, once read
_USED: set[str] = set()  # the keys this process asked for


@dataclass(frozen=True)
class Path:
    """A fused path: ``loop`` "compiled" or "torch"; ``pack`` the packed step GEMM (True),
    ``torch.addmm`` (False) or the rule of :func:`~rnnkit.layers.fused.gemm.packable` (None)."""

    loop: str
    pack: bool | None = None


def _check(mode: str, source: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{source} must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def mode() -> str:
    """The mode in force: :func:`forced`'s, else ``RNNKIT_FUSED_PATH``'s, else ``auto``."""
    chosen = _FORCED.get()
    if chosen is not None:
        return chosen
    return _check(os.environ.get(ENV_PATH, "auto").strip() or "auto", ENV_PATH)


@contextmanager
def forced(path: str) -> Iterator[None]:
    """Within the block the fused paths run in mode ``path`` (one of :data:`MODES`)."""
    token = _FORCED.set(_check(path, "forced(path)"))
    try:
        yield
    finally:
        _FORCED.reset(token)


def key(
    kind: str, flags: list[str], T: int, B: int, H: int, dtype: torch.dtype, train: bool
) -> str:
    """The problem a choice holds for, e.g. ``lstm[bias,zone_h] T=8 B=32 H=256 float32 train
    threads=2`` (the machine is the cache file's)."""
    mode_ = "train" if train else "infer"
    threads = torch.get_num_threads()
    return (
        f"{kind}[{','.join(flags)}] T={min(T, PROBE_STEPS)} B={B} H={H} "
        f"{str(dtype).removeprefix('torch.')} {mode_} threads={threads}"
    )


def candidates(compiled: bool, pack: bool) -> tuple[str, ...]:
    """The candidates that can run: the kernels only where ``compiled``, packing where ``pack``."""
    loops = LOOPS if compiled else LOOPS[1:]
    gemms = GEMMS if pack else GEMMS[1:]
    return tuple(f"{loop}/{gemm}" for loop in loops for gemm in gemms)


def parse(name: str) -> Path:
    """A candidate name (``"torch/packed"``) or a loop (``"compiled"``: GEMM by the rule)."""
    loop, _, gemm = name.partition("/")
    return Path(loop, None if not gemm else gemm == "packed")


def _runnable(path: Path, compiled: bool, pack: bool) -> Path:
    """``path`` where the tensors allow it, else what can run in its place."""
    return Path(path.loop if compiled else "torch", path.pack if pack else None)


def choose_path(
    problem: Callable[[], str],
    *,
    compiled: bool,
    pack: bool,
    rule_pack: bool,
    probes: Callable[[], dict[str, Callable[[], None]]],
) -> Path:
    """The path to run for a problem.

    Args:
        problem: gives the problem's :func:`key` (called only in mode ``auto``).
        compiled: whether the compiled kernels can take the tensors.
        pack: whether the step GEMM's weight can be packed.
        rule_pack: whether the fixed rule packs it (``gemm.packable`` outside a choice).
        probes: builds one call per name of ``candidates(compiled, pack)`` running that
            path on copies of the real tensors; called only when a measurement is due.
    """
    mode_ = mode()
    if mode_ in ("rule", "step"):
        return Path("compiled" if compiled else "torch")
    if mode_ != "auto":
        return _runnable(parse(mode_), compiled, pack)
    names = candidates(compiled, pack)
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return Path("compiled" if compiled else "torch")  # the rule: no timing inside a trace
    if len(names) == 1:
        return parse(names[0])
    rule = f"{'compiled' if compiled else 'torch'}/{'packed' if rule_pack else 'addmm'}"
    among = f" among {'+'.join(LOOPS if compiled else LOOPS[1:])}"  # kernels off: another key
    return parse(_choose(problem() + among, names, rule, probes))


def _choose(key_: str, names: tuple[str, ...], rule: str, probes: Callable[[], dict]) -> str:
    """The cached choice for ``key_`` if it is among ``names``, else measure and cache."""
    file = cache_file()
    choices = _memory(file)
    _USED.add(key_)
    entry = choices.get(key_)
    if entry is not None and entry["path"] in names:
        return entry["path"]
    samples = measure(probes())
    best = fastest(samples, rule)
    ms = {name: round(statistics.median(s) * 1e3, 4) for name, s in samples.items()}
    choices[key_] = {"path": best, "ms": ms}
    _save(file, key_, choices[key_])
    return best


def fastest(samples: dict[str, list[float]], rule: str) -> str:
    """The name with the smallest median time, if it is ``rule`` or was faster than
    ``rule`` by :data:`MARGIN` in every round (the same round's times); else ``rule``."""
    best = min(samples, key=lambda name: statistics.median(samples[name]))
    if best == rule or rule not in samples:
        return best
    pairs = zip(samples[best], samples[rule], strict=True)
    return best if all(t < (1 - MARGIN) * r for t, r in pairs) else rule


def measure(calls: dict[str, Callable[[], None]], rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Seconds of each call in each of ``rounds`` interleaved rounds (rotating order), after
    a warm-up call each; under no_grad, and the RNG state restored afterwards."""
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for call in calls.values():
            call()
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = _clock()
                calls[name]()
                samples[name].append(_clock() - start)
    return samples


def cache_dir() -> FilePath:
    """``RNNKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/rnnkit``, else ``~/.cache/rnnkit``."""
    if os.environ.get(ENV_CACHE):
        return FilePath(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or FilePath.home() / ".cache"
    return FilePath(base) / "rnnkit"


def cache_file() -> FilePath:
    return cache_dir() / FILE_NAME


def used() -> dict[str, dict]:
    """The measured choices this process ran on: ``key -> {"path", "ms"}`` (benchmarks)."""
    choices = _memory(cache_file())
    return {key_: choices[key_] for key_ in _USED if key_ in choices}


def forget() -> None:
    """Drop the choices held in memory (the next use reads the cache file again)."""
    _MEMORY.clear()
    _USED.clear()


def _cpuinfo() -> dict[str, str]:
    """The first value of each field of /proc/cpuinfo ({} where there is none)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, _, value = line.partition(":")
                info.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    return info


@functools.cache
def machine() -> dict[str, str]:
    """What a choice depends on besides the problem: CPU model and flags, torch version."""
    info = _cpuinfo()
    model = info.get("model name") or platform.processor() or platform.machine()
    flags = hashlib.sha1(info.get("flags", "").encode()).hexdigest()[:16]
    return {"cpu": model, "cpu_flags_sha1": flags, "torch": torch.__version__}


def _note(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=2)


def _memory(file: FilePath) -> dict[str, dict]:
    if file not in _MEMORY:
        _MEMORY[file] = _load(file, quiet=False)
    return _MEMORY[file]


def _valid_entry(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("path") in CANDIDATES


def _load(file: FilePath, *, quiet: bool) -> dict[str, dict]:
    """The choices of ``file``; {} (with a note unless ``quiet``) when absent or not ours."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, ValueError) as error:
        reason = f"unreadable ({type(error).__name__})"
    else:
        reason = _foreign(data)
    if reason is None:
        return dict(data["choices"])
    if not quiet:
        _note(f"fused path cache {file}: {reason}; ignored, it will be rewritten")
    return {}


def _foreign(data: object) -> str | None:
    """Why ``data`` is not a cache file of this version and machine, or None."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return "not an rnnkit fused path cache"
    if data.get("version") != VERSION:
        return f"version {data.get('version')!r}, not {VERSION}"
    if data.get("machine") != machine():
        return "written on another machine or torch version"
    choices = data.get("choices")
    if not isinstance(choices, dict) or not all(map(_valid_entry, choices.values())):
        return "malformed choices"
    return None


def _save(file: FilePath, key_: str, entry: dict) -> None:
    """Add one choice to ``file`` (merged with what others wrote since), atomically."""
    choices = {**_load(file, quiet=True), key_: entry}
    data = {"format": FORMAT, "version": VERSION, "machine": machine(), "choices": choices}
    temp = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=file.parent, prefix=".fused_paths.", suffix=".tmp", delete=False
        ) as f:
            temp = f.name
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(temp, file)
    except OSError as error:
        if temp is not None:
            FilePath(temp).unlink(missing_ok=True)
        _note(f"fused path cache {file}: cannot write ({error.strerror}); choices kept in memory")
