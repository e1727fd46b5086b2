"""Generation speed: characters per second of ``rnnkit sample``'s loop against a plain loop.

Usage::

    python benchmarks/generation.py                # 300 characters per call, 3 rounds
    python benchmarks/generation.py --quick        # smoke run: 20 characters, one round
    python benchmarks/generation.py --process      # `rnnkit sample --length 5000`, whole
    python benchmarks/generation.py --process --rnnkit-src OLD/src   # ... of another checkout

The model is the ``default`` LM preset's architecture (2x256 LSTM) over tinyshakespeare's 65
characters, untrained and seeded (speed does not depend on the weights), in eval mode. Rows, at
batch 1 and at a batch of 8 prompts, all timed in the same process, interleaved round by round
(``timing.py``):

- ``rnnkit``: what ``rnnkit sample`` runs: at batch 1 :func:`~rnnkit.apps.language_model.generate`
  (text in, text out); at batch 8 :func:`~rnnkit.decoding.sample_sequence` over
  :func:`~rnnkit.tasks.lm_step.lm_step` with its thread count.
- ``model.step``: the same sampling loop over the module's own ``LanguageModel.step``, torch's
  default threads (what ``rnnkit sample`` ran before the fast step).
- ``plain loop``: embedding -> ``torch.nn.LSTM`` one step -> linear -> softmax ->
  ``torch.multinomial``, torch's default threads: the loop written the usual way.

``× plain`` is a row's characters per second over the plain loop's. The target: rnnkit at least
2x at batch 1. ``--process`` instead times ``rnnkit sample --length 5000`` as a whole process on
a checkpoint of that model (wall seconds, and user + system CPU seconds of the child, from
``resource.getrusage(RUSAGE_CHILDREN)``); ``--rnnkit-src`` runs another checkout's rnnkit there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved

from rnnkit.apps.language_model import LM_PRESETS, generate
from rnnkit.data.vocab import CharVocab
from rnnkit.decoding import sample_sequence
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm_step import generation_threads, lm_step

CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # tinyshakespeare's
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
TEMPERATURE = 0.8  # rnnkit sample's default
#: a generation loop: (prime (B, P), length, generator) -> None
Loop = Callable[[Tensor, int, torch.Generator], None]


def default_model() -> LanguageModel:
    """The default preset's architecture, seeded, untrained, in eval mode."""
    torch.manual_seed(0)
    vocab = CharVocab(CHARS)
    config = LanguageModelConfig(vocab_size=len(vocab), **LM_PRESETS["default"].model)
    return LanguageModel(config, vocab).eval()


def plain_loop(model: LanguageModel) -> Loop:
    """embedding -> nn.LSTM one step -> linear -> softmax -> multinomial, as usually written."""
    rnn = model.rnn
    lstm = nn.LSTM(rnn.input_size, rnn.hidden_size, rnn.num_layers).eval()
    lstm.load_state_dict({k: v for k, v in rnn.state_dict().items() if k in lstm.state_dict()})
    embedding, proj = model.embedding, model.proj

    def run(prime: Tensor, length: int, generator: torch.Generator) -> None:
        with torch.no_grad():
            output, hidden = lstm(embedding(prime.T))  # (P, B, H)
            output = output[-1:]
            for _ in range(length):
                probs = torch.softmax(proj(output[0]) / TEMPERATURE, dim=-1)  # (B, V)
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
                output, hidden = lstm(embedding(token)[None], hidden)

    return run


def calls(model: LanguageModel, batch: int, length: int) -> dict[str, Callable[[], None]]:
    """The three rows at one batch size, each a call that generates ``length`` tokens a row."""
    width = 6
    prompts = [TEXT[i * 7 : i * 7 + width] for i in range(batch)]
    ids = torch.stack([model.vocab.encode(p) for p in prompts])  # (B, P)
    plain = plain_loop(model)
    threads = generation_threads(batch, model.config.hidden_size)

    def seeded() -> torch.Generator:
        return torch.Generator().manual_seed(0)

    def ours() -> None:
        if batch == 1:
            generate(model, prompts[0], length, temperature=TEMPERATURE, seed=0)
            return
        sample_sequence(lm_step(model), ids, length, temperature=TEMPERATURE,
                        generator=seeded(), threads=threads)  # fmt: skip

    return {
        "rnnkit": ours,
        "model.step": lambda: sample_sequence(
            model.step, ids, length, temperature=TEMPERATURE, generator=seeded()
        ),
        "plain loop": lambda: plain(ids, length, seeded()),
    }


#: saves :func:`default_model` with the rnnkit that runs it (another checkout may read only its
#: own config format): ``python -c SAVE DIR CHARS FIELDS_JSON``
SAVE = """
import json, sys, torch
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
torch.manual_seed(0)
vocab = CharVocab(sys.argv[2])
config = LanguageModelConfig(vocab_size=len(vocab), **json.loads(sys.argv[3]))
LanguageModel(config, vocab).save_pretrained(sys.argv[1])
"""


def time_process(length: int, rnnkit_src: str | None) -> None:
    """``rnnkit sample --length N`` on a checkpoint of the model: wall and CPU seconds."""
    env = {**os.environ, "PYTHONPATH": rnnkit_src} if rnnkit_src else None
    with tempfile.TemporaryDirectory() as tmp:
        fields = json.dumps(LM_PRESETS["default"].model)
        subprocess.run([sys.executable, "-c", SAVE, tmp, CHARS, fields], env=env, check=True)
        args = [sys.executable, "-m", "rnnkit.cli", "sample", "--checkpoint", tmp]
        args += ["--length", str(length), "--seed", "0"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"rnnkit sample failed: {done.stderr.strip()}")
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    source = rnnkit_src or "this checkout"
    print(f"rnnkit sample --length {length} ({source}): {wall:.2f} s wall, "
          f"{user + system:.2f} CPU s ({user:.2f} user + {system:.2f} system)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--length", type=int, default=300, help="characters per call and row")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch's default threads (default: torch's)")
    parser.add_argument("--process", action="store_true", help="time rnnkit sample instead")
    parser.add_argument("--process-length", type=int, default=5000)
    parser.add_argument("--rnnkit-src", help="PYTHONPATH of the rnnkit that --process runs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.process:
        time_process(20 if args.quick else args.process_length, args.rnnkit_src)
        return
    length, rounds = (20, 1) if args.quick else (args.length, args.rounds)
    model = default_model()
    threads = torch.get_num_threads()
    print(f"default preset model (2x256 LSTM, V={len(model.vocab)}), {length} characters a row, "
          f"temperature {TEMPERATURE}, torch's default threads: {threads}")  # fmt: skip
    print(f"{'batch':>5}  {'loop':<12}{'chars/s':>10}{'× plain':>9}")
    for batch in (1, 8):
        seconds = interleaved(calls(model, batch, length), rounds=rounds, min_time=0.0)
        rate = {name: batch * length / s for name, s in seconds.items()}
        for name, r in rate.items():
            print(f"{batch:>5}  {name:<12}{r:>10,.0f}{r / rate['plain loop']:>8.2f}x")


if __name__ == "__main__":
    main()
