"""Long documents against short texts: training tokens/s of the classifier, same model, one run.

Usage::

    python benchmarks/long_texts.py                # 5 rounds, 2 threads
    python benchmarks/long_texts.py --threads 1    # on a shared machine, one thread is steadier
    python benchmarks/long_texts.py --quick        # smoke run (a few seconds), for CI

The model is the classify job's default: ``ClassifierConfig(vocab_size=30000, num_classes=2,
cell="lstm", bidirectional=True, pooling="max", embedding_size=64, hidden_size=128)``, trained
with Adam (lr 2e-3). Texts are random token ids in [1, 30000) with random labels (speed does
not depend on either); their lengths are drawn uniformly from a seeded generator:

- ``long``: 300 to 400 tokens (both ends included), as after ``--max-length 400``;
- ``short``: 15 to 20 tokens, SMS-sized.

Batches are built as the job builds them, ``BucketBatches(x, y, batch_size=32, seed=0)``
(epoch 0, collated once before timing: data loading is not measured). Both sets hold about
the same number of tokens (``--long-batches`` of long texts, 20 times as many batches of short
ones). One update is what the Trainer does: forward, cross-entropy, backward, Adam step.

Rows, each a pass over its batches, timed round by round in rotating order (noise from other
processes hits every row of a round alike):

- ``long`` / ``short``: ``SequenceClassifier`` as the job builds it (its recurrent stack's
  class is printed: ``FusedLSTM`` runs rnnkit's fused CPU kernels, masked by lengths);
- ``long, native packed``: the same classifier with the same weights, its stack swapped for a
  plain ``rnnkit.LSTM`` (torch's kernel on packed sequences, whose CPU backward zero-fills
  the whole packed gate tensor at every step: quadratic in the length).

Printed: tokens/s (real tokens, padding excluded) as the median over rounds with the min-max
spread, the long/short ratio (target >= 0.8x) and fused/native on long texts, each the ratio of
medians with the spread of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

import rnnkit
from rnnkit.data.padded import BucketBatches, PaddedBatch
from rnnkit.tasks.classifier import ClassifierConfig, SequenceClassifier

CONFIG = ClassifierConfig(  # the classify job's default model
    vocab_size=30000,
    num_classes=2,
    cell="lstm",
    bidirectional=True,
    pooling="max",
    embedding_size=64,
    hidden_size=128,
)
LR = 2e-3  # the job's Adam learning rate
BATCH_SIZE = 32  # the job's batch size
LONG, SHORT = (300, 400), (15, 20)  # length ranges, both ends included
TARGET = 0.8  # long/short tokens/s


def cpu_description() -> str:
    """CPU model and the vector extensions that matter for the kernels (from /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")
    present = [f for f in wanted if f in flags]
    return f"{model} ({', '.join(present) or 'no AVX2'}; {os.cpu_count()} logical CPUs)"


def texts(n: int, lengths: tuple[int, int], seed: int) -> tuple[list[list[int]], list[int]]:
    """``n`` random texts, lengths uniform in ``lengths`` (inclusive), and random labels."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(lengths[0], lengths[1] + 1, (n,), generator=g).tolist()
    x = [torch.randint(1, CONFIG.vocab_size, (k,), generator=g).tolist() for k in sizes]
    y = torch.randint(0, CONFIG.num_classes, (n,), generator=g).tolist()
    return x, y


def job_batches(n_batches: int, lengths: tuple[int, int], seed: int) -> list[PaddedBatch]:
    """Epoch 0 of ``BucketBatches`` over ``n_batches * 32`` texts, as the classify job builds it."""
    x, y = texts(n_batches * BATCH_SIZE, lengths, seed)
    source = BucketBatches(x, y, BATCH_SIZE, seed=0)
    return [source.next_batch() for _ in range(source.batches_per_epoch)]


def classifier(native: bool) -> SequenceClassifier:
    """The job's classifier (seeded); ``native``: its stack swapped for a plain ``rnnkit.LSTM``."""
    torch.manual_seed(0)
    model = SequenceClassifier(CONFIG)
    if native:
        lstm = rnnkit.LSTM(
            CONFIG.embedding_size,
            CONFIG.hidden_size,
            num_layers=CONFIG.num_layers,
            batch_first=True,
            bidirectional=CONFIG.bidirectional,
        )
        lstm.load_state_dict(model.rnn.state_dict())  # the same weights
        model.rnn = lstm
    return model.train()


def training_pass(model: SequenceClassifier, batches: list[PaddedBatch]) -> Callable[[], None]:
    """One update per batch: forward, loss, backward, Adam step (as the Trainer does)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def run() -> None:
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss, _ = model.loss(batch)
            loss.backward()
            optimizer.step()

    return run


def interleaved_rates(
    rows: dict[str, tuple[Callable[[], None], int]], rounds: int
) -> dict[str, list[float]]:
    """Tokens/s of each row per round: every row once per round, in rotating order.

    ``rows``: name -> (one pass, tokens in that pass). One warm-up pass each first.
    """
    for run, _ in rows.values():
        run()
    rates: dict[str, list[float]] = {name: [] for name in rows}
    names = list(rows)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            run, tokens = rows[name]
            start = time.perf_counter()
            run()
            rates[name].append(tokens / (time.perf_counter() - start))
    return rates


def spread(values: list[float], fmt: str) -> str:
    """``median (min-max)`` of ``values``."""
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"{med:{fmt}} ({lo:{fmt}}–{hi:{fmt}})"


def ratio(a: list[float], b: list[float]) -> str:
    """Ratio of medians, with the min-max of the per-round ratios."""
    per_round = [x / y for x, y in zip(a, b, strict=True)]
    med = statistics.median(a) / statistics.median(b)
    return f"{med:.2f}× ({min(per_round):.2f}–{max(per_round):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one round, few batches")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--long-batches", type=int, default=4, help="batches of long texts per pass (default 4)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds, n_long = (1, 1) if args.quick else (args.rounds, args.long_batches)
    if args.quick:  # a smoke run: the same code on shorter texts
        long_lengths, short_lengths = (30, 40), SHORT
    else:
        long_lengths, short_lengths = LONG, SHORT
    long = job_batches(n_long, long_lengths, seed=1)
    short = job_batches(2 if args.quick else 20 * n_long, short_lengths, seed=2)
    tokens = {
        name: sum(int(b.lengths.sum()) for b in bs) for name, bs in (("l", long), ("s", short))
    }
    job, native = classifier(native=False), classifier(native=True)
    rows = {
        "long": (training_pass(job, long), tokens["l"]),
        "short": (training_pass(classifier(native=False), short), tokens["s"]),
        "long, native packed": (training_pass(native, long), tokens["l"]),
    }
    print(f"CPU: {cpu_description()}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f} before"
    )
    print(f"job's stack: {type(job.rnn).__name__}; native row: {type(native.rnn).__name__}")
    print(
        f"long: {len(long)} batches, {tokens['l']:,} tokens, lengths {long_lengths[0]}–"
        f"{long_lengths[1]}; short: {len(short)} batches, {tokens['s']:,} tokens, lengths "
        f"{short_lengths[0]}–{short_lengths[1]}; {rounds} rounds"
    )
    rates = interleaved_rates(rows, rounds)
    print(f"load average {os.getloadavg()[0]:.1f} after\n")
    print(f"{'texts':<22}{'training tokens/s, median (min–max)':>38}")
    for name, values in rates.items():
        print(f"{name:<22}{spread(values, ',.0f'):>38}")
    met = statistics.median(rates["long"]) >= TARGET * statistics.median(rates["short"])
    print(
        f"\nlong / short: {ratio(rates['long'], rates['short'])}  "
        f"(target ≥ {TARGET}×: {'met' if met else 'NOT met'})"
    )
    fused = f"long, {type(job.rnn).__name__} / native packed"
    print(f"{fused}: {ratio(rates['long'], rates['long, native packed'])}")


if __name__ == "__main__":
    main()
