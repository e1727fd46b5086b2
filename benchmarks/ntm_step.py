"""Training-update time of the NTM on ntm-copy: fused memory step vs plain autograd vs an LSTM.

Usage::

    python benchmarks/ntm_step.py              # the preset: 100 units, 128x20 memory, batch 32
    python benchmarks/ntm_step.py --quick      # smoke run: tiny sizes, one round (a few seconds)
    python benchmarks/ntm_step.py --threads 1 --profile   # also the fused path's top ops

Each row times one update of :class:`rnnkit.tasks.longrange.LongRangeModel` on the copy task
(forward, binary cross-entropy, backward, clipping at the preset's norm, an Adam step) over a
fixed mix of lengths L (inputs of 2L + 2 steps; the mean of 1..20 is 10.5). Rows, timed
interleaved round by round (``timing.py``): ``ntm fused`` (``NTMCell(fused=True)``, the
default: one autograd Function with a hand-written backward for the heads, write and read),
``ntm plain`` (``fused=False``: the same equations in plain autograd ops, the code before the
fused step) and ``lstm`` (an LSTM of the same hidden size on the fused LSTM path). Ratios are
of the same run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved

from rnnkit.apps.longrange import BITS, PRESETS
from rnnkit.data.longrange import ntm_copy
from rnnkit.data.synthetic_batches import SequenceBatch
from rnnkit.tasks.longrange import LongRangeConfig, LongRangeModel

LENGTHS = (3, 7, 10, 14, 18)  # one update per length; mean 10.4
QUICK_LENGTHS = (2, 4)
QUICK_SIZES = {"hidden_size": 16, "memory_slots": 16, "memory_width": 8}


def make_model(cell: str, sizes: dict, *, fused: bool = True) -> LongRangeModel:
    """A seeded ntm-copy model with ``cell`` (``ntm`` or ``lstm``) at ``sizes``."""
    torch.manual_seed(0)
    config = LongRangeConfig(
        task="ntm-copy", cell=cell, input_size=BITS + 2, output_size=BITS, **sizes
    )
    model = LongRangeModel(config)
    if cell == "ntm":
        model.cell.fused = fused
    return model


def updates(model: LongRangeModel, batches: list[SequenceBatch], clip: float) -> Callable[[], None]:
    """One Adam update per batch (forward, loss, backward, clip, step)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    params = list(model.parameters())

    def run() -> None:
        for batch in batches:
            loss, _ = model.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()

    return run


def profile(call: Callable[[], None], rows: int) -> None:
    """Print the top ``rows`` ops of one call by self CPU time."""
    with torch.profiler.profile() as prof:
        call()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--profile", action="store_true", help="also profile each NTM path")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes, train = PRESETS["ntm-copy"].model, PRESETS["ntm-copy"].training
    sizes, lengths = (QUICK_SIZES, QUICK_LENGTHS) if args.quick else (sizes, LENGTHS)
    batch_size = 4 if args.quick else train["batch_size"]
    generator = torch.Generator().manual_seed(0)
    batches = [
        SequenceBatch(*ntm_copy(batch_size, L, generator=generator, bits=BITS)) for L in lengths
    ]
    models = {
        "ntm fused": make_model("ntm", sizes),
        "ntm plain": make_model("ntm", sizes, fused=False),
        "lstm": make_model("lstm", sizes),
    }
    calls = {name: updates(model, batches, train["clip_norm"]) for name, model in models.items()}
    seconds = interleaved(calls, rounds=1 if args.quick else args.rounds, min_time=0)
    ms = {name: 1000 * s / len(batches) for name, s in seconds.items()}
    print(f"ntm-copy, batch {batch_size}, {sizes}, lengths {lengths}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    for name, value in ms.items():
        print(f"  {name:10s} {value:8.1f} ms/update  ({value / ms['lstm']:5.1f}x lstm)")
    print(f"  fused speed-up over plain: {ms['ntm plain'] / ms['ntm fused']:.2f}x")
    if args.profile:
        for name in ("ntm fused", "ntm plain"):
            print(name)
            profile(calls[name], 15)


if __name__ == "__main__":
    main()
