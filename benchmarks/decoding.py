"""Decoding throughput: batched greedy and beam search against one example at a time.

Usage::

    python benchmarks/decoding.py            # 256 words, rounds until the ratio is pinned
    python benchmarks/decoding.py --quick    # smoke run: 16 words, one round

The model is the ``cmudict`` preset's architecture (BiLSTM 256 encoder, LSTM 256 decoder with
general attention and input feeding), untrained: speed does not depend on the weights, and an
untrained decoder rarely ends early, so every example runs to ``--max-length`` tokens and both
rows decode the same number of tokens. ``batched`` is what ``rnnkit translate`` runs
(``Seq2Seq.translate`` with batches of 64); ``one at a time`` decodes each word alone, the loop a
first attempt would write. Rows are timed in the same process, interleaved round by round
(``timing.py``), a batched measurement repeated until it lasts a second (one round of the other
row lasts several), from 6 rounds on until the median per-round ratio is pinned to ±5 % (its
95 % interval) or two minutes pass; the ratio is printed with its min–max over the rounds. The
target: beam 5 at batch 64 at least 10x faster per example.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import timed_rounds

from rnnkit.apps.seq2seq import PRESETS
from rnnkit.data.pair_batches import PairEncoder
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig


def words(count: int) -> list[tuple[str, ...]]:
    """Made-up lower-case words of 4 to 12 letters."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(4, 13, (count,), generator=g).tolist()
    return [tuple(chr(97 + int(i)) for i in torch.randint(0, 26, (n,), generator=g))
            for n in lengths]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sources = words(16 if args.quick else 256)
    phones = [tuple(f"P{i}" for i in range(39))]
    encoder = PairEncoder.build(sources, phones)
    torch.manual_seed(0)
    fields = {**PRESETS["cmudict"].model, "dropout": 0.0}
    model = Seq2Seq(Seq2SeqConfig(len(encoder.source), len(encoder.target), **fields), encoder)
    model.eval()
    print(f"{len(sources)} words, max length {args.max_length}, {args.threads} threads")
    print(f"{'decoder':<10}{'batched tokens/s':>18}{'one at a time tokens/s':>24}"
          f"{'ratio (min–max)':>24}{'rounds':>8}")  # fmt: skip
    for name, options in (("greedy", {"method": "greedy"}),
                          ("beam 5", {"method": "beam", "beam_size": 5})):  # fmt: skip
        options["max_length"] = args.max_length
        tokens = sum(len(t[0].tokens) + 1 for t in model.translate(sources, **options))
        calls = {
            "batched": lambda o=options: model.translate(sources, batch_size=64, **o),
            "one at a time": lambda o=options: [model.translate([s], **o) for s in sources],
        }
        timings = timed_rounds(
            calls, min_time=0.0 if args.quick else 1.0, rounds=1 if args.quick else None,
            watch=[("one at a time", "batched")], time_cap=120.0,
        )  # fmt: skip
        rate = {k: tokens / timings.median(k) for k in calls}
        ratio = timings.ratio("one at a time", "batched")  # per round: the same round's times
        pinned = "" if timings.settled is not False else " (not pinned to ±5 %)"
        print(f"{name:<10}{rate['batched']:>18,.0f}{rate['one at a time']:>24,.0f}"
              f"{ratio!s:>24}{timings.rounds:>8}{pinned}")  # fmt: skip


if __name__ == "__main__":
    main()
