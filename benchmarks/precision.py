"""Training throughput of the character LM in bf16 against fp32, measured in the same run.

Usage::

    python benchmarks/precision.py           # 1x128, 2x256 (default preset), 2x512; B 64, T 100
    python benchmarks/precision.py --quick   # smoke run: 1x32 and 2x64, B 8, T 20, one round
    python benchmarks/precision.py --sizes 2x256   # the default preset's size only

Each row times one update of :class:`rnnkit.tasks.LanguageModel` through the Trainer's own
``train_step`` (forward and loss under the run's autocast, backward, clipping, Adam step) on a
random 65-symbol stream, the state carried, and reports tokens/s = B * T / seconds per
update. The fp32 and bf16 trainers of a size are timed interleaved, round by round
(``timing.py``). Target: bf16 >= 1.5x fp32 for the default 2x256 model.

Where the trainer refuses bf16 (a CPU without native bfloat16, e.g. AVX2 only: torch's oneDNN
LSTM has no bf16 primitive there and its bf16 matmuls fall back to slow loops), the bf16 column
says so, and the last row shows why: the input-projection GEMM of the largest size,
(B*T, H) x (H, 4H), in float32 and under bf16 autocast, in GFLOP/s.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.precision import PrecisionError, cpu_has_bf16
from rnnkit.training.trainer import TrainConfig, Trainer

VOCAB = 65  # tinyshakespeare's characters
SIZES = ((1, 128), (2, 256), (2, 512))
QUICK_SIZES = ((1, 32), (2, 64))


def update(layers: int, hidden: int, precision: str, batch: int, bptt: int) -> Callable[[], None]:
    """One training update of a fresh ``layers x hidden`` LSTM LM (raises PrecisionError)."""
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(VOCAB, hidden_size=hidden, num_layers=layers))
    ids = torch.randint(0, VOCAB, (batch * bptt * 50,))
    config = TrainConfig(batch_size=batch, bptt=bptt, max_steps=10**6, precision=precision)
    trainer = Trainer(model, ids, ids[:1000], config, progress=False)

    def step() -> None:
        _, metrics = trainer.train_step(trainer.source.next_batch())
        trainer.source.carry(metrics.get("state"))

    return step


def gemm_rates(rows: int, hidden: int, rounds: int) -> dict[str, float]:
    """GFLOP/s of ``(rows, H) x (H, 4H)`` in float32 and under bf16 autocast."""
    x, w = torch.randn(rows, hidden), torch.randn(4 * hidden, hidden)

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            F.linear(x, w)

    seconds = interleaved({"fp32": lambda: F.linear(x, w), "bf16": bf16}, rounds=rounds, min_time=0)
    return {k: 2 * rows * hidden * 4 * hidden / v / 1e9 for k, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", help="layers x hidden, e.g. 2x256,2x512 (default: all three)")
    args = parser.parse_args()
    batch, bptt = (8, 20) if args.quick else (64, 100)
    rounds = 1 if args.quick else args.rounds
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(tuple(map(int, size.split("x"))) for size in args.sizes.split(","))
    cpu = torch.backends.cpu.get_cpu_capability()
    threads = torch.get_num_threads()
    print(f"char LM training, B {batch}, T {bptt}, {threads} threads, CPU {cpu}, "
          f"native bf16: {cpu_has_bf16()}")  # fmt: skip
    print(f"{'model':<8}{'fp32 tokens/s':>15}{'bf16 tokens/s':>15}{'bf16/fp32':>11}")
    for layers, hidden in sizes:
        calls = {"fp32": update(layers, hidden, "fp32", batch, bptt)}
        refused = ""
        try:
            calls["bf16"] = update(layers, hidden, "bf16", batch, bptt)
        except PrecisionError:
            refused = "refused: no native bf16 on this CPU"
        seconds = interleaved(calls, rounds=rounds, min_time=0.0)
        rate = {k: batch * bptt / v for k, v in seconds.items()}
        name = f"{layers}x{hidden}"
        if refused:
            print(f"{name:<8}{rate['fp32']:>15,.0f}   {refused}")
            continue
        ratio = rate["bf16"] / rate["fp32"]
        print(f"{name:<8}{rate['fp32']:>15,.0f}{rate['bf16']:>15,.0f}{ratio:>10.2f}x")
    hidden = sizes[-1][1]
    gemm = gemm_rates(batch * bptt, hidden, rounds)
    print(f"GEMM ({batch * bptt}, {hidden}) x ({hidden}, {4 * hidden}): fp32 {gemm['fp32']:.1f} "
          f"GFLOP/s, bf16 autocast {gemm['bf16']:.1f} GFLOP/s, "
          f"ratio {gemm['bf16'] / gemm['fp32']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
