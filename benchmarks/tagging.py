"""Tagging throughput: words per second of batched tagging against a per-sentence loop.

Usage::

    python benchmarks/tagging.py                    # UD English-EWT dev sentences if present
    python benchmarks/tagging.py --quick            # smoke run: few sentences, one round

Both rows tag the same sentences with the same model (the ``ud-ewt`` preset's architecture,
untrained: speed does not depend on the weights). ``batched`` is what ``rnnkit tag`` runs:
``Tagger.tag`` with length-sorted batches of 64 on the native LSTM kernel; ``one by one``
tags each sentence alone, the loop a first attempt would write. Both rows are timed in the same
process, interleaved round by round (``timing.py``), with softmax and with CRF decoding.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved

from rnnkit.apps.tag import PRESETS
from rnnkit.data.conllu import read_conllu
from rnnkit.data.tagging import TaggingEncoder
from rnnkit.tasks.tagger import Tagger, TaggerConfig

ROOT = Path(__file__).resolve().parent.parent
EWT = ROOT.parent / "shared/data/ud-en-ewt"


def sentences(limit: int) -> list[list[str]]:
    """EWT dev sentences (or made-up ones when the data set is absent)."""
    path = EWT / "en_ewt-ud-dev.conllu"
    if path.is_file():
        return [s.words for s in read_conllu(path)][:limit]
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 40, (limit,), generator=g).tolist()
    return [[f"w{int(i)}" for i in torch.randint(0, 5000, (n,), generator=g)] for n in lengths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    words = sentences(100 if args.quick else 1000)
    tags = [[("NOUN", "VERB", "DET")[i % 3] for i in range(len(s))] for s in words]
    encoder = TaggingEncoder.build(words, tags)
    n_words = sum(map(len, words))
    print(f"{len(words)} sentences, {n_words} words, {args.threads} threads")
    print(f"{'decoder':<9}{'batched words/s':>17}{'one by one words/s':>20}{'ratio':>8}")
    for crf in (False, True):
        torch.manual_seed(0)
        sizes = (len(encoder.words), len(encoder.chars), len(encoder.tags))
        model = Tagger(TaggerConfig(*sizes, **PRESETS["ud-ewt"].model, crf=crf), encoder).eval()
        calls = {
            "batched": lambda m=model: m.tag(words, batch_size=64),
            "one by one": lambda m=model: [m.tag([s]) for s in words],
        }
        seconds = interleaved(calls, rounds=1 if args.quick else 3, min_time=0.0)
        rate = {k: n_words / v for k, v in seconds.items()}
        ratio = rate["batched"] / rate["one by one"]
        name = "CRF" if crf else "softmax"
        print(f"{name:<9}{rate['batched']:>17,.0f}{rate['one by one']:>20,.0f}{ratio:>7.1f}x")


if __name__ == "__main__":
    main()
