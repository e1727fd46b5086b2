"""Toy models for the decoding tests, each a ``step(tokens, state)``, and a brute-force search.

- :class:`TableModel`: log-probs depend on (step count, last token) only, a random table.
- :class:`AttentionToy`: a GRU decoder attending over per-example encoder memory with a
  padding mask, so that decoding one example alone can be compared with decoding it in a batch.
- :func:`brute_force`: every possible output of a step function, scored one row at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

EOS = 0


class TableModel:
    """``log_probs = log_softmax(table[min(step, T-1), token])``; inputs 0..V (``bos = V``).

    State: the (N,) step counter. ``sharpness`` scales the logits (peakier distributions),
    ``eos_bias`` is added to the eos logit.
    """

    def __init__(
        self, vocab: int, *, steps: int = 6, seed: int = 0, sharpness: float = 1.5, eos_bias=0.0
    ):
        g = torch.Generator().manual_seed(seed)
        self.vocab, self.bos = vocab, vocab
        logits = torch.randn(steps, vocab + 1, vocab, generator=g) * sharpness  # (T, V+1, V)
        logits[..., EOS] += eos_bias
        self.table = logits.log_softmax(-1)

    def initial_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, dtype=torch.long)

    def step(self, tokens: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
        steps = self.table.shape[0]
        return self.table[count.clamp(max=steps - 1), tokens], count + 1  # (N, V)


class AttentionToy(nn.Module):
    """GRU decoder with dot-product attention over encoder memory; bos = V, eos = 0.

    State ``(h (N, D), memory (N, S, D), mask (N, S) bool, weights (N, S), step (N, 1))``; padded
    memory positions hold random junk that the mask must hide. The eos logit gets
    ``eos_rate * (step - 4)``, so that hypotheses end at varied lengths.
    """

    def __init__(
        self, vocab: int = 7, dim: int = 8, *, seed: int = 0, scale: float = 1.0, eos_rate=1.0
    ):
        super().__init__()
        self.eos_rate = eos_rate
        kw = {"dtype": torch.float64}
        self.vocab, self.bos = vocab, vocab
        self.embed = nn.Embedding(vocab + 1, dim, **kw)
        self.source = nn.Embedding(vocab, dim, **kw)
        self.cell = nn.GRUCell(dim, dim, **kw)
        self.proj = nn.Linear(2 * dim, vocab, **kw)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)

    def encode(self, sources: list[list[int]], *, junk_seed: int = 9):
        """Padded memory (B, S, D), mask (B, S), h0 = masked mean of the memory."""
        S = max(len(s) for s in sources)
        g = torch.Generator().manual_seed(junk_seed)
        memory = torch.randn(len(sources), S, self.embed.embedding_dim, generator=g)
        memory = memory.to(torch.float64)
        mask = torch.zeros(len(sources), S, dtype=torch.bool)
        for b, src in enumerate(sources):
            memory[b, : len(src)] = self.source(torch.tensor(src)).detach()
            mask[b, : len(src)] = True
        h0 = (memory * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        weights = torch.zeros(len(sources), S, dtype=torch.float64)
        return h0, memory, mask, weights, torch.zeros(len(sources), 1, dtype=torch.float64)

    @torch.no_grad()
    def step(self, tokens: Tensor, state) -> tuple[Tensor, tuple]:
        h, memory, mask, _, count = state
        h = self.cell(self.embed(tokens), h)  # (N, D)
        scores = torch.einsum("nsd,nd->ns", memory, h).masked_fill(~mask, float("-inf"))
        weights = scores.softmax(-1)  # (N, S)
        context = torch.einsum("ns,nsd->nd", weights, memory)  # (N, D)
        logits = self.proj(torch.cat([h, context], -1))  # (N, V)
        logits[:, EOS] += self.eos_rate * (count[:, 0] - 4)
        return logits.log_softmax(-1), (h, memory, mask, weights, count + 1)


def attention_of(state) -> Tensor:
    """The toy's attention weights (N, S) from its state."""
    return state[3]


def brute_force(
    step: Callable, state, *, bos: int, vocab: int, max_length: int
) -> Iterator[tuple[tuple[int, ...], float, bool]]:
    """Every output (tokens without eos, log_prob, finished) of at most ``max_length`` steps.

    Depth-first, one row at a time: the eos may come at any step; a sequence without one stops
    after ``max_length`` tokens. Log-probs are summed in float64 from the step's outputs.
    """

    def walk(prefix, token, state, log_prob):
        log_probs, state = step(torch.tensor([token]), state)  # (1, V)
        for v in range(vocab):
            total = log_prob + float(log_probs[0, v])
            if v == EOS:
                yield prefix, total, True
            elif len(prefix) + 1 == max_length:
                yield (*prefix, v), total, False
            else:
                yield from walk((*prefix, v), v, state, total)

    yield from walk((), bos, state, 0.0)


def has_repeat(tokens: tuple[int, ...], n: int) -> bool:
    """True if some n-gram occurs twice in ``tokens``."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def lp(length: int, kind: str, alpha: float) -> float:
    """The length penalty, written from the docs: none 1, avg L, gnmt ((5 + L) / 6) ** alpha."""
    return {"none": 1.0, "avg": float(length), "gnmt": math.pow((5 + length) / 6, alpha)}[kind]


@pytest.fixture
def toys() -> SimpleNamespace:
    """The helpers above for the tests (test modules cannot import each other)."""
    return SimpleNamespace(
        EOS=EOS,
        TableModel=TableModel,
        AttentionToy=AttentionToy,
        attention_of=attention_of,
        brute_force=brute_force,
        has_repeat=has_repeat,
        lp=lp,
    )
