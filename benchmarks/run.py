"""Benchmark rnnkit's recurrent layers against torch.nn.LSTM/GRU in one process.

Usage::

    python benchmarks/run.py            # full run (many minutes), writes docs/benchmarks.md
    python benchmarks/run.py --quick    # smoke run: short sequences, one round, no file

Every problem size is timed for training (forward + backward) and inference (no_grad),
with all rows interleaved round by round (see ``timing.py``) until every ratio to
``torch.nn.LSTM`` / ``torch.nn.GRU`` is pinned to ±5 % (or ``--rounds N``); then gradient
checkpointing is compared with full BPTT at T = 1000. The report goes to stdout and to
``--output``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gemm import gemm_rows, gemm_table
from memory import activation_bytes
from models import CONFIGS, ROWS, Config, Row
from report import NOTES, checkpoint_table, choices_table, config_table, header, targets_table
from timing import Timings, make_call, timed_rounds

from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Recurrent
from rnnkit.layers.fused import choice

ROOT = Path(__file__).resolve().parent.parent


def watched(rows: list[Row]) -> list[tuple[str, str]]:
    """The ratios a table reports: every row to nn.LSTM, GRU rows also to nn.GRU."""
    lstm, gru = rows[0].label, rows[1].label
    pairs = [(lstm, row.label) for row in rows[1:]]
    return pairs + [(gru, row.label) for row in rows[2:] if row.vs_gru]


def time_config(cfg: Config, rows: list[Row], timing: dict) -> dict[str, Timings]:
    torch.manual_seed(0)
    x = torch.randn(cfg.T, cfg.B, cfg.D)
    models = {row.label: row.make(cfg.D, cfg.H) for row in rows}
    times = {}
    for mode in ("train", "infer"):
        train = mode == "train"
        calls = {
            row.label: make_call(models[row.label], x, train=train, path=row.path) for row in rows
        }
        t = times[mode] = timed_rounds(calls, watch=watched(rows), **timing)
        print(f"  {cfg.name} {mode}: {t.rounds} rounds, {t.seconds:.0f} s", flush=True)
        for row in rows:
            ratio = t.ratio(rows[0].label, row.label)
            ms = t.median(row.label) * 1e3
            print(f"  {cfg.name} {mode:5s} {row.label:36s} {ms:9.2f} ms {ratio}", flush=True)
    return times


def time_checkpoint(cfg: Config, T: int, K: int, timing: dict) -> dict:
    torch.manual_seed(0)
    x = torch.randn(T, cfg.B, cfg.D)
    layers = {
        "full": Recurrent(LSTMCell(cfg.D, cfg.H)),
        "checkpoint": Recurrent(LSTMCell(cfg.D, cfg.H), checkpoint_every=K),
    }
    calls = {n: make_call(m, x, train=True, path="fused") for n, m in layers.items()}
    times = timed_rounds(calls, watch=[("checkpoint", "full")], **{**timing, "min_time": 0.0})
    result = {}
    for name, layer in layers.items():
        nbytes = activation_bytes(lambda layer=layer: layer(x)[0], [x, *layer.parameters()])
        result[name] = {"time": times.median(name), "bytes": nbytes}
        t_ms = result[name]["time"] * 1e3
        print(f"  checkpoint {name:10s} {t_ms:9.1f} ms {nbytes / 2**20:8.1f} MB")
    return result


def target_checks(all_times: dict[str, dict], ckpt: dict | None) -> list[tuple[str, str, bool]]:
    lstm, gru = ROWS[0].label, ROWS[1].label
    checks = []

    def add(name: str, cfg: str, mode: str, row: str, base: str, low: float) -> None:
        times = all_times.get(cfg, {}).get(mode)
        if times is not None and row in times.samples:
            r = times.ratio(base, row)
            checks.append((f"{name}, {cfg} {mode}: ≥ {low}× (median)", str(r), r.median >= low))

    # issue 27's targets: the custom cells near oneDNN's fused LSTM, in training and inference
    custom = ("LayerNorm-LSTM", "LSTM + zoneout 0.1", "LSTM + recurrent dropout 0.25",
              "peephole LSTM")  # fmt: skip
    for cfg in ("C1", "C2"):
        for mode in ("train", "infer"):
            add("rnnkit.LSTM vs nn.LSTM", cfg, mode, "rnnkit.LSTM", lstm, 0.97)
            for row in custom:
                add(f"{row} vs nn.LSTM", cfg, mode, row, lstm, 0.85 if mode == "train" else 0.8)
        add("rnnkit.GRU(fused=True) (reset after) vs nn.GRU", cfg, "train",
            "rnnkit.GRU(fused=True) (reset after)", gru, 1.2)  # fmt: skip
        add("SimpleRNN vs nn.LSTM", cfg, "train", "SimpleRNN (rnnkit.RNN, tanh)", lstm, 1.0)
    if ckpt is None:
        return checks
    full, ck = ckpt["full"], ckpt["checkpoint"]
    mem, slow = ck["bytes"] / full["bytes"], ck["time"] / full["time"]
    checks.append(("checkpointing memory vs full BPTT: ≤ 0.25×", f"{mem:.3f}×", mem <= 0.25))
    checks.append(("checkpointing time vs full BPTT: ≤ 1.5×", f"{slow:.2f}×", slow <= 1.5))
    return checks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short sequences, one round, no file")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="exactly this many interleaved rounds (default: adaptive, see --tolerance)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="adaptive rounds stop when every ratio's median is pinned to ± this (default 0.05)",
    )
    parser.add_argument("--max-rounds", type=int, default=30, help="adaptive: at most (30)")
    parser.add_argument(
        "--time-cap", type=float, default=180.0, help="adaptive: seconds per table (180)"
    )
    parser.add_argument(
        "--fused-path",
        choices=choice.MODES,
        default=None,
        help="force a fused path (default: $RNNKIT_FUSED_PATH, else auto: measured)",
    )
    parser.add_argument("--configs", default="C1,C2,C3", help="comma-separated subset of C1,C2,C3")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated substrings of row labels "
        "to run (the torch reference rows always run)",
    )
    parser.add_argument("--no-checkpoint", action="store_true", help="skip the checkpointing rows")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="report file (default: docs/benchmarks.md, none with --quick)",
    )
    args = parser.parse_args(argv)
    for name in ("rounds", "max_rounds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.tolerance < 1 or args.time_cap <= 0:
        parser.error("--tolerance must be in (0, 1) and --time-cap positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.fused_path:
        os.environ[choice.ENV_PATH] = args.fused_path
    rounds = 1 if args.quick and args.rounds is None else args.rounds
    timing = {
        "rounds": rounds,
        "min_time": 0.0 if args.quick else 0.05,
        "tolerance": args.tolerance,
        "max_rounds": args.max_rounds,
        "time_cap": args.time_cap,
    }
    wanted = set(args.configs.split(","))
    configs = [c for c in CONFIGS if c.name in wanted]
    T_ckpt = 1000
    if args.quick:
        configs = [dataclasses.replace(c, T=max(5, c.T // 20)) for c in configs]
        T_ckpt = 100
    K = round(math.sqrt(T_ckpt))
    command = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    text = header(torch.get_num_threads(), command)
    only = [s for s in args.only.split(",") if s]
    rows = [r for i, r in enumerate(ROWS) if i < 2 or not only or any(s in r.label for s in only)]
    all_times = {}
    for cfg in configs:
        print(f"{cfg}", flush=True)
        all_times[cfg.name] = time_config(cfg, rows, timing)
        text += config_table(cfg, rows, all_times[cfg.name], args.tolerance)
    ckpt = None
    if not args.no_checkpoint:
        ckpt_cfg = CONFIGS[0]
        print(f"checkpointing: T={T_ckpt}, K={K}", flush=True)
        ckpt = time_checkpoint(ckpt_cfg, T_ckpt, K, timing)
        text += checkpoint_table(T_ckpt, K, ckpt_cfg, ckpt)
    gemm_configs = [c for c in CONFIGS if c.name in wanted and c.B > 1]
    if gemm_configs:
        print("per-step GEMMs", flush=True)
        text += gemm_table(gemm_rows(gemm_configs, rounds or 7))
    if choice.mode() == "auto":
        text += choices_table(choice.used())
    text += targets_table(target_checks(all_times, ckpt)) + NOTES
    print("\n" + text)
    output = args.output or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    if output is not None:
        output.write_text(text)
        print(f"written to {output}")


if __name__ == "__main__":
    main()
