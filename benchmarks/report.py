"""The markdown report: machine, one table per problem size, checkpointing, targets."""

from __future__ import annotations

import datetime
import os
import platform

import torch
from models import Config, gemm_flops
from timing import Timings

NOTES = """\
## How to read it

- **Time**: median over interleaved rounds (every row runs once per round, in rotating order)
  of one call; training = forward + backward of ``output.sum()``, inference = forward under
  ``torch.no_grad()`` in eval mode. Input (T, B, D) time-major, not requiring grad.
- **Rounds**: adaptive unless ``--rounds N`` fixes them. From 6 rounds on, a table's rounds
  stop once every ratio of the table is pinned: the distribution-free 95 % confidence
  interval of its median (order statistics of the per-round ratios) lies within ±5 % of it
  (``--tolerance``); else at ``--max-rounds`` (30), or at the first round from the 6th on
  that ends past ``--time-cap`` (180 s per table). Above each table: the rounds run and
  whether every ratio was pinned. A ratio that stays unpinned says the machine was too
  busy for a ±5 % answer; run again on a quiet one.
- **GFLOP/s** counts the matrix products only: forward 2·T·B·G·(D + H) with G = 4H (LSTM
  family), 3H (GRU), H (Elman RNN); training 3× that. Element-wise work is not counted.
- **× nn.LSTM / × nn.GRU**: time of ``torch.nn.LSTM`` (``torch.nn.GRU``) divided by the
  row's time in the same round, median over the rounds, and in brackets the min–max over
  the rounds; above 1 is faster than torch.
- **Noise**: ``rnnkit.LSTM`` without extras *is* ``torch.nn.LSTM``'s kernel (plus a few
  microseconds of dispatch), so its distance from 1.00× shows the noise of the run; on a
  shared 2-core VM it reaches ±10% at C1, and repeated runs move the ratios by about as
  much.
- Which path runs: ``rnnkit.LSTM``/``GRU``/``RNN`` without extras, with weight drop, and
  with recurrent dropout in eval use torch's native kernel (oneDNN's fused LSTM on CPU).
  LayerNorm, peephole and zoneout LSTMs, recurrent dropout in training and
  ``rnnkit.GRU(fused=True)`` in training (on CPU) run on the fused paths of
  ``rnnkit.layers.fused``: the input projection as one GEMM, one autograd Function for the
  whole sequence whose hand-written backward computes the weight gradients as one GEMM over
  all T·B rows, oneDNN pre-packed weights for the forward step GEMM (B ≥ 8), and all of a
  step's element-wise work in one call of the compiled step kernels (``_kernels.cpp``, built
  by ``pip install``; AVX2 clone where the CPU has it). ``rnnkit.GRU(fused=True)`` in
  inference uses torch's kernel.
  "torch-op loop" rows run the same fused paths with the compiled kernels switched off
  (``kernels.ENABLED = False``: the element-wise work as torch ops, what runs on CUDA or
  where no compiler was found); "step loop" rows with the fused paths off
  (``rnnkit.layers.fused.disabled()``): the generic per-step loop over ``cell.step``.
- **Path choice**: which fused path runs (compiled kernels or torch ops, packed oneDNN or
  ``torch.addmm`` step GEMM) is measured at the first call of each problem on this machine
  (``rnnkit.layers.fused.choice``; the warm-up call pays it) and cached in
  ``~/.cache/rnnkit/fused_paths.json``; ``RNNKIT_FUSED_PATH=rule|compiled|torch|
  LOOP/GEMM|step`` (``--fused-path``) forces one. The "Fused path choices" table lists what
  ran, with each candidate's probe time.
- **Checkpointing**: ``Recurrent(LSTMCell(D, H), checkpoint_every=K)`` against full BPTT,
  both on the fused kernel. Activation memory = bytes of the tensors autograd keeps for the
  backward pass (storages of parameters and input excluded) plus the segment-boundary
  states a checkpoint keeps, measured with ``torch.autograd.graph.saved_tensors_hooks``.

## Where the fused paths stand, and why

- With the compiled step kernels a fused step is its GEMM plus one kernel call: the
  element-wise work of a C1 step takes about 25 µs forward and 40 µs backward, against
  about 120 µs for the step GEMM itself. LayerNorm, zoneout, recurrent dropout and
  peephole LSTMs therefore run within a few tens of percent of oneDNN's fused LSTM.
- The fused GRU is GEMM-bound: its matrix products are the ones ``torch.nn.GRU`` computes
  too, at about the efficiency oneDNN's LSTM reaches on its own, so its lead over
  ``torch.nn.GRU`` is what torch's GRU loses outside its GEMMs (per-op autograd, per-step
  weight gradients). That lead grows with how much slower than ``torch.nn.LSTM`` torch's
  GRU is on the machine: the issue's machine measured 1.8×; on this VM ``torch.nn.GRU``
  takes between 0.9× and 1.4× the time of ``torch.nn.LSTM`` from run to run.
"""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(threads: int, command: str) -> str:
    today = datetime.date.today().isoformat()
    return (
        f"# Benchmarks\n\nGenerated by `{command}` on {today}.\n\n"
        f"- CPU: {cpu_model()}, {threads} torch threads\n"
        f"- torch {torch.__version__}, oneDNN available: {torch.backends.mkldnn.is_available()}\n"
        f"- Python {platform.python_version()}, {platform.system()} {platform.release()}\n"
        f"- load average at the start: {_load()}\n\n"
    )


def _load() -> str:
    """The 1, 5 and 15 minute load averages (other processes compete for the cores)."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):  # no load average on this system
        return "unknown"


def rounds_line(times: dict[str, Timings], tolerance: float) -> str:
    """E.g. ``train: 12 rounds, 41 s, every ratio pinned to ±5 %; infer: ...``."""
    parts = []
    for mode, t in times.items():
        state = {True: f"every ratio pinned to ±{tolerance * 100:g} %", False: "not all pinned"}
        parts.append(
            f"{mode}: {t.rounds} round{'s' * (t.rounds != 1)}, {t.seconds:.0f} s"
            + ("" if t.settled is None else f", {state[t.settled]}")
        )
    return "; ".join(parts)


def config_table(cfg: Config, rows: list, times: dict[str, Timings], tolerance: float) -> str:
    """One markdown table: a line per row, training and inference columns; each ratio as
    its median over the rounds with the min–max."""
    lines = [
        f"## {cfg}\n",
        f"{rounds_line(times, tolerance)}.\n",
        "| model | train ms | train GFLOP/s | train × nn.LSTM | train × nn.GRU "
        "| infer ms | infer GFLOP/s | infer × nn.LSTM | infer × nn.GRU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cells = [row.label]
        for mode in ("train", "infer"):
            t, name = times[mode], row.label
            flops = gemm_flops(cfg, row.family, mode == "train")
            lstm = str(t.ratio(rows[0].label, name))
            gru = str(t.ratio(rows[1].label, name)) if row.vs_gru else ""
            ms = t.median(name)
            cells += [f"{ms * 1e3:.1f}", f"{flops / ms / 1e9:.1f}", lstm, gru]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n"


def choices_table(choices: dict[str, dict]) -> str:
    """The fused path each problem ran on and the probe time (ms) of every candidate."""
    lines = [
        "## Fused path choices\n",
        "| problem (cell[options] T B H dtype mode threads, loops tried) | chosen "
        "| probe ms per candidate |",
        "| --- | --- | --- |",
    ]
    for key, entry in sorted(choices.items()):
        ms = ", ".join(f"{name} {t:.2f}" for name, t in sorted(entry.get("ms", {}).items()))
        lines.append(f"| {key} | {entry['path']} | {ms} |")
    return "\n".join(lines) + "\n\n"


def checkpoint_table(T: int, K: int, cfg: Config, result: dict) -> str:
    full, ck = result["full"], result["checkpoint"]
    return (
        f"## Gradient checkpointing (T={T}, B={cfg.B}, D={cfg.D}, H={cfg.H}, K={K})\n\n"
        "| LSTM layer, training | time ms | × full time | activation MB | × full memory |\n"
        "| --- | ---: | ---: | ---: | ---: |\n"
        f"| full BPTT | {full['time'] * 1e3:.1f} | 1.00× | {full['bytes'] / 2**20:.1f} | 1.00× |\n"
        f"| checkpoint_every={K} | {ck['time'] * 1e3:.1f} | {ck['time'] / full['time']:.2f}× "
        f"| {ck['bytes'] / 2**20:.1f} | {ck['bytes'] / full['bytes']:.3f}× |\n\n"
    )


def targets_table(checks: list[tuple[str, str, bool]]) -> str:
    lines = ["## Targets\n", "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in checks]
    return "\n".join(lines) + "\n\n"
