r"""A character-level language model in NumPy, after Karpathy's min-char-rnn.

Run it on any UTF-8 text::

    python -m rnnkit.reference.char_rnn input.txt --hidden 100 --seq-length 25 --steps 20000

The model reads one character at a time and predicts the next one:

.. math::
    s_t = \tanh(V x_t + U s_{t-1} + b), \qquad y_t = W_{hy} s_t + b_y, \qquad
    p_t = \mathrm{softmax}(y_t)

with ``x_t`` the one-hot vector (V,) of character t (:mod:`rnnkit.reference.rnn` and
:mod:`rnnkit.reference.softmax` do the work). Training walks the text in chunks of
``seq_length`` characters; the loss of a chunk is the **sum** of ``-log p_t[next char]``
over its steps, as in min-char-rnn, and the state carries over from chunk to chunk
(truncated BPTT), reset to zero at the start of the text. Each step clips every gradient
entry to [-5, 5] and takes an Adagrad step. Every ``sample_every`` steps it prints the
smoothed loss **per character** (starting at ``ln V``, the loss of a uniform guess) and a
200-character sample drawn from the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rnnkit.reference import rnn
from rnnkit.reference.softmax import (
    init_output,
    output_backward,
    output_forward,
    softmax,
    softmax_cross_entropy,
)

Array = NDArray[np.float64]
Params = dict[str, Array]

CLIP = 5.0  # every gradient entry is clipped to [-CLIP, CLIP], as in min-char-rnn
SMOOTHING = 0.999  # smoothed = SMOOTHING * smoothed + (1 - SMOOTHING) * loss
SAMPLE_LENGTH = 200  # characters per printed sample
ADAGRAD_EPS = 1e-8

__all__ = ["Run", "adagrad_step", "loss_and_grads", "main", "read_text", "sample", "train"]


class TextError(ValueError):
    """The input file is missing, unreadable, empty or not UTF-8 (a one-line message)."""


@dataclass
class Run:
    """What a training run leaves: the model, its alphabet and how the loss went."""

    params: Params  # weight_ih (H, V), weight_hh (H, H), bias_ih, bias_hh (H,), W_hy (V, H), b_y
    chars: list[str]  # the vocabulary: index -> character
    losses: list[float] = field(default_factory=list)  # smoothed loss per character, per step
    samples: list[str] = field(default_factory=list)  # one per report
    seconds: float = 0.0  # training time


def read_text(path: Path) -> str:
    """The whole file as text; a missing, unreadable, empty or non-UTF-8 file is a TextError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TextError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TextError(f"{path}: is a directory, expected a text file") from None
    except OSError as e:
        raise TextError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TextError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if len(text) < 2:
        raise TextError(f"{path}: needs at least 2 characters, got {len(text)}")
    return text


def loss_and_grads(
    params: Params, inputs: list[int], targets: list[int], h_prev: Array
) -> tuple[float, Params, Array]:
    """Forward and backward over one chunk.

    Args:
        params: the RNN's arrays and the output layer's ``W_hy``, ``b_y``.
        inputs, targets: L character indices each; ``targets[t]`` follows ``inputs[t]``.
        h_prev: (1, H) the state carried from the previous chunk.

    Returns:
        ``(loss, grads, h)``: the summed cross-entropy, its gradient for every array of
        ``params`` and the last state (1, H) to carry on.
    """
    V = params["b_y"].shape[0]
    xs = np.eye(V)[inputs][:, None, :]  # one-hot, (L, 1, V)
    cache = rnn.forward(params, xs, h_prev)
    hs = cache["hs"][:, 0, :]  # (L, H)
    loss, dlogits = softmax_cross_entropy(output_forward(params, hs), np.array(targets), "sum")
    out_grads, dhs = output_backward(params, hs, dlogits)  # dhs: (L, H)
    grads = rnn.backward(params, cache, dhs[:, None, :])
    grads = {name: grads[name] for name in rnn.PARAM_NAMES}  # drop ∂L/∂xs, ∂L/∂h0
    return loss, {**grads, **out_grads}, cache["hs"][-1]


def sample(params: Params, h: Array, seed_ix: int, n: int, rng: np.random.Generator) -> list[int]:
    """Draw ``n`` characters, starting from state ``h`` (1, H) and character ``seed_ix``."""
    V = params["b_y"].shape[0]
    ix, out = seed_ix, []
    for _ in range(n):
        h = rnn.forward(params, np.eye(V)[ix][None, None, :], h)["hs"][0]  # one step, (1, H)
        p = softmax(output_forward(params, h))[0]  # (V,)
        ix = int(rng.choice(V, p=p))
        out.append(ix)
    return out


def adagrad_step(params: Params, grads: Params, memory: Params, lr: float) -> None:
    """Clip each gradient entry to [-5, 5], then Adagrad: θ -= lr g / sqrt(Σ g² + ε)."""
    for name, p in params.items():
        g = np.clip(grads[name], -CLIP, CLIP)
        memory[name] += g * g
        p -= lr * g / np.sqrt(memory[name] + ADAGRAD_EPS)


def train(
    text: str,
    *,
    hidden: int = 100,
    seq_length: int = 25,
    lr: float = 0.1,
    steps: int = 10_000,
    seed: int = 0,
    sample_every: int = 1000,
    log: Callable[[str], None] | None = None,
) -> Run:
    """Train a character RNN on ``text`` for ``steps`` chunks; ``log`` receives the reports."""
    chars = sorted(set(text))
    V, index = len(chars), {ch: i for i, ch in enumerate(chars)}
    data = [index[ch] for ch in text]
    L = min(seq_length, len(data) - 1)  # chunk length: a short text gives shorter chunks
    rng = np.random.default_rng(seed)
    params = {**rnn.init_params(V, hidden, rng), **init_output(hidden, V, rng)}
    memory = {name: np.zeros_like(p) for name, p in params.items()}  # Adagrad's Σ g²
    run = Run(params, chars)
    smooth, p, h = float(np.log(V)), 0, np.zeros((1, hidden))  # ln V: a uniform guess
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if p + L + 1 > len(data):  # wrap around: start the text again from a zero state
            p, h = 0, np.zeros((1, hidden))
        inputs, targets = data[p : p + L], data[p + 1 : p + L + 1]
        loss, grads, h = loss_and_grads(params, inputs, targets, h)
        adagrad_step(params, grads, memory, lr)
        smooth = SMOOTHING * smooth + (1 - SMOOTHING) * loss / L  # per character
        run.losses.append(smooth)
        p += L
        if step % sample_every == 0 or step == steps:
            drawn = sample(params, h, inputs[0], SAMPLE_LENGTH, rng)
            text_sample = "".join(chars[i] for i in drawn)
            run.samples.append(text_sample)
            if log is not None:
                elapsed = time.perf_counter() - start
                log(f"step {step}, smoothed loss {smooth:.4f} ({elapsed:.1f} s)")
                log(f"----\n{text_sample}\n----")
    run.seconds = time.perf_counter() - start
    return run


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` that must be > 0."""

    def parse(value: str) -> float:
        number = kind(value)
        if not number > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
        return number

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.reference.char_rnn",
        description="Train a NumPy character RNN (min-char-rnn) on a text file and sample it.",
    )
    parser.add_argument("file", type=Path, help="a UTF-8 text file")
    parser.add_argument("--hidden", type=_positive(int), default=100, help="H (default 100)")
    parser.add_argument(
        "--seq-length", type=_positive(int), default=25, help="BPTT chunk length (default 25)"
    )
    parser.add_argument(
        "--lr", type=_positive(float), default=0.1, help="Adagrad rate (default 0.1)"
    )
    parser.add_argument(
        "--steps", type=_positive(int), default=10_000, help="chunks to train on (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="init and sampling seed (default 0)")
    parser.add_argument(
        "--sample-every", type=_positive(int), default=1000, help="steps per report (default 1000)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (2 for a bad file)."""
    args = parse_args(argv)
    try:
        text = read_text(args.file)
    except TextError as e:
        print(f"char_rnn: error: {e}", file=sys.stderr)
        return 2
    V = len(set(text))
    print(f"{len(text)} characters, V = {V}; loss at start ln V = {np.log(V):.4f}", flush=True)
    run = train(
        text,
        hidden=args.hidden,
        seq_length=args.seq_length,
        lr=args.lr,
        steps=args.steps,
        seed=args.seed,
        sample_every=args.sample_every,
        log=lambda line: print(line, flush=True),
    )
    print(f"done: {args.steps} steps, smoothed loss {run.losses[-1]:.4f}, {run.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
