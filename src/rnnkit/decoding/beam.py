r"""Beam search over the ``Step`` contract, batched over (batch × beam) rows.

Each example keeps ``k`` live hypotheses (rows ``b*k .. b*k+k-1`` of the state) and a pool of
its ``n_best`` best ended hypotheses. The first step reads the state's one row per example
(``k = 1``: every hypothesis starts from the same ``bos``, so K copies would compute the same
step K times); its best ``K = beam_size`` extensions make ``k = K`` from then on, the state
following them through ``reorder``. One step, for all examples at once:

1. ``step`` gives (B*k, V) log-probs; ``eos`` is at -inf while fewer than ``min_length``
   tokens are generated, and with ``no_repeat_ngram = n`` every token that would complete an
   n-gram already in the hypothesis is at -inf.
2. The k*V extensions of each example are scored by their summed log-prob.
3. An extension by ``eos`` that ranks within the example's top K goes to the pool (finished:
   it is never extended); the best K extensions by other tokens become the new live beam, and
   the state, token history and attention rows follow their parents through ``reorder``.
4. After ``max_length`` steps the live hypotheses go to the pool unfinished.

The pool ranks by score = log_prob / lp(L), L the number of generated tokens with the eos:

.. math::
    lp_{none}(L) = 1 \qquad lp_{avg}(L) = L \qquad
    lp_{gnmt}(L) = \left(\frac{5 + L}{6}\right)^{\alpha} \quad \text{(Wu et al., 2016)}

Stopping rule (exact, given the beam): an example stops once its pool holds ``n_best``
hypotheses and its best live log-prob divided by ``lp(max_length)`` is no better than the
pool's worst score. Log-probs are <= 0 and lp never decreases with L, so no extension of a live
hypothesis can score higher than that bound. A stopped example leaves the batch, so its result
does not depend on the others. With a beam as wide as the number of possible sequences, the
search is exhaustive (for every length penalty): it returns the true ``n_best``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.state import reorder_state
from rnnkit.checks import check_int, check_nonnegative
from rnnkit.decoding.step import (
    Attention,
    Hypothesis,
    Reorder,
    Step,
    check_lengths,
    forbid_eos,
    state_device,
    to_hypotheses,
)

__all__ = ["LENGTH_PENALTIES", "beam_search", "length_penalties"]

LENGTH_PENALTIES = ("none", "avg", "gnmt")


def length_penalties(kind: str, alpha: float, max_length: int) -> list[float]:
    """[lp(0), ..., lp(max_length)] of ``kind`` (module docstring), L counting the eos."""
    if kind == "avg":
        return [float(L) for L in range(max_length + 1)]
    if kind == "gnmt":
        return [((5.0 + L) / 6.0) ** alpha for L in range(max_length + 1)]
    return [1.0] * (max_length + 1)


def ban_repeats(log_probs: Tensor, history: Tensor, n: int) -> Tensor:
    """(N, V) log-probs with -inf on every token completing an n-gram already in ``history``.

    ``history`` (N, t) holds each row's generated tokens; its windows (N, t-n+1, n) whose first
    n-1 tokens equal the row's last n-1 tokens ban their last token.
    """
    t = history.shape[1]
    if n < 1 or t < n:
        return log_probs
    windows = history.unfold(1, n, 1)  # (N, W, n)
    suffix = history[:, t - n + 1 :]  # (N, n-1)
    hit = (windows[:, :, :-1] == suffix[:, None]).all(-1)  # (N, W)
    banned = torch.zeros(log_probs.shape, dtype=torch.long, device=log_probs.device)
    banned.scatter_add_(1, windows[:, :, -1], hit.long())  # (N, V) hit counts
    return log_probs.masked_fill(banned > 0, float("-inf"))


@dataclass
class Pool:
    """The ``n`` best ended hypotheses of each of B examples, best first (-inf score: empty)."""

    tokens: Tensor  # (B, n, max_length) generated tokens, the eos included
    lengths: Tensor  # (B, n) L
    log_probs: Tensor  # (B, n)
    scores: Tensor  # (B, n)
    finished: Tensor  # (B, n) bool
    weights: Tensor | None  # (B, n, max_length, S)

    @classmethod
    def empty(
        cls, batch: int, n: int, max_length: int, device: torch.device, weights: Tensor | None
    ) -> Pool:
        """An empty pool; ``weights`` (N, max_length, S) gives the attention's shape, if any."""
        at = None if weights is None else weights.new_zeros(batch, n, *weights.shape[1:])
        return cls(
            torch.zeros(batch, n, max_length, dtype=torch.long, device=device),
            torch.ones(batch, n, dtype=torch.long, device=device),
            torch.full((batch, n), float("-inf"), device=device),
            torch.full((batch, n), float("-inf"), device=device),
            torch.zeros(batch, n, dtype=torch.bool, device=device),
            at,
        )

    def merge(self, examples: Tensor, new: Pool) -> None:
        """Keep each example's ``n`` best of its pool and ``new`` (b', k, ...) for ``examples``.

        A stable sort with the pool first: a tie never displaces a hypothesis found earlier.
        """
        fields = ("tokens", "lengths", "log_probs", "scores", "finished", "weights")
        both = {
            f: torch.cat([getattr(self, f)[examples], getattr(new, f)], 1)
            for f in fields
            if getattr(self, f) is not None
        }
        order = both["scores"].sort(dim=1, descending=True, stable=True).indices[:, : self.size]
        pick = (torch.arange(len(examples), device=order.device)[:, None], order)
        for f, value in both.items():
            getattr(self, f)[examples] = value[pick]

    @property
    def size(self) -> int:
        return self.scores.shape[1]

    def hypotheses(self) -> list[list[Hypothesis]]:
        """batch × (up to n) hypotheses, best first; empty entries are left out."""
        B, n = self.scores.shape
        weights = None if self.weights is None else self.weights.flatten(0, 1)
        flat = to_hypotheses(
            self.tokens.flatten(0, 1),
            self.lengths.flatten(),
            self.log_probs.flatten(),
            self.scores.flatten(),
            self.finished.flatten(),
            weights,
        )
        return [[h for h in flat[b * n : (b + 1) * n] if h.score > float("-inf")] for b in range(B)]


@dataclass
class Beams:
    """The k live hypotheses of each of B' examples still searching: rows b*k .. b*k+k-1."""

    examples: Tensor  # (B',) the example of each group of k rows
    log_prob: Tensor  # (B', k) summed log-probs
    tokens: Tensor  # (B'k,) the last generated tokens, the next inputs
    history: Tensor  # (B'k, max_length) generated tokens
    weights: Tensor | None = None  # (B'k, max_length, S) attention weights of each step

    @classmethod
    def start(cls, batch: int, bos: int, max_length: int, device: torch.device) -> Beams:
        """One live hypothesis per example, ``bos`` (k = 1)."""
        log_prob = torch.zeros(batch, 1, device=device)
        tokens = torch.full((batch,), bos, dtype=torch.long, device=device)
        history = torch.zeros(batch, max_length, dtype=torch.long, device=device)
        return cls(torch.arange(batch, device=device), log_prob, tokens, history)

    def record(self, step_weights: Tensor, t: int) -> None:
        """Store the (B'K, S) attention weights of step ``t``."""
        if self.weights is None:
            shape = (*self.history.shape, step_weights.shape[-1])
            self.weights = step_weights.new_zeros(shape)
        self.weights[:, t] = step_weights

    def follow(self, parent: Tensor, log_prob: Tensor, tokens: Tensor, t: int) -> Beams:
        """The next beams (k = K): rows ``parent`` (B'K,) extended by ``tokens`` (B', K) at
        step t."""
        history = self.history[parent]
        history[:, t] = tokens.flatten()
        weights = None if self.weights is None else self.weights[parent]
        return Beams(self.examples, log_prob, tokens.flatten(), history, weights)

    def rows(self, live: Tensor) -> Tensor:
        """(B''k,) the rows of the examples where ``live`` (B',) is True."""
        k = self.log_prob.shape[1]
        return (live.nonzero() * k + torch.arange(k, device=live.device)).flatten()

    def select(self, live: Tensor, rows: Tensor) -> Beams:
        """Only the examples where ``live`` (B',) is True, ``rows`` being their rows."""
        weights = None if self.weights is None else self.weights[rows]
        return Beams(
            self.examples[live], self.log_prob[live], self.tokens[rows], self.history[rows], weights
        )

    def as_pool(self, log_prob: Tensor, length: int, finished: bool, lp: Tensor) -> Pool:
        """Every row as a pool entry (B', k) of ``length`` tokens with ``log_prob`` (B', k)."""
        B, k = log_prob.shape
        weights = None if self.weights is None else self.weights.view(B, k, *self.weights.shape[1:])
        return Pool(
            self.history.view(B, k, -1),
            torch.full_like(log_prob, length, dtype=torch.long),
            log_prob,
            log_prob / lp[length],
            torch.full_like(log_prob, finished, dtype=torch.bool),
            weights,
        )


@torch.no_grad()
def beam_search(
    step: Step,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    beam_size: int = 5,
    n_best: int = 1,
    max_length: int,
    min_length: int = 0,
    length_penalty: str = "none",
    alpha: float = 0.6,
    no_repeat_ngram: int = 0,
    reorder: Reorder = reorder_state,
    attention: Attention | None = None,
) -> list[list[Hypothesis]]:
    """The ``n_best`` best hypotheses of each of ``batch_size`` examples, best first.

    Algorithm, length penalties and stopping rule: module docstring. ``state`` holds B rows;
    ``attention(state) -> (B*K, S)``, if given, is recorded per hypothesis. An example gets
    fewer than ``n_best`` hypotheses only when fewer sequences are possible.
    """
    _check_options(batch_size, bos, eos, beam_size, n_best, max_length, min_length)
    _check_penalty(length_penalty, alpha, no_repeat_ngram)
    K, device = beam_size, state_device(state)
    lp = torch.tensor(length_penalties(length_penalty, alpha, max_length), device=device)
    beams = Beams.start(batch_size, bos, max_length, device)
    pool = None  # once the first step shows V and S
    for t in range(max_length):
        log_probs, state = step(beams.tokens, state)  # (B'k, V)
        log_probs = forbid_eos(log_probs.float(), eos, t, min_length)
        log_probs = ban_repeats(log_probs, beams.history[:, :t], no_repeat_ngram)
        if attention is not None:
            beams.record(attention(state), t)
        if pool is None:
            pool = Pool.empty(batch_size, n_best, max_length, device, beams.weights)
        candidates = beams.log_prob[:, :, None] + log_probs.view(*beams.log_prob.shape, -1)
        kth, log_prob, parent, tokens = _top(candidates, eos, K)  # (B', k, V) candidates
        ends = candidates[:, :, eos].masked_fill(candidates[:, :, eos] < kth, float("-inf"))
        if ends.isfinite().any():  # eos extensions within the top K end there
            beams.history[:, t] = eos
            pool.merge(beams.examples, beams.as_pool(ends, t + 1, True, lp))
        beams = beams.follow(parent, log_prob, tokens, t)
        if t + 1 == max_length:
            pool.merge(beams.examples, beams.as_pool(log_prob, max_length, False, lp))
            break
        live = ~_stopped(pool, beams, lp[-1])  # (B',)
        if not live.any():
            break
        if not live.all():
            rows = beams.rows(live)
            beams, parent = beams.select(live, rows), parent[rows]
        state = reorder(state, parent)
    return pool.hypotheses()


def _check_options(
    batch_size: int,
    bos: int,
    eos: int,
    beam_size: int,
    n_best: int,
    max_length: int,
    min_length: int,
) -> None:
    check_int("batch_size", batch_size, 1)
    check_int("bos", bos, 0)
    check_int("eos", eos, 0)
    check_int("beam_size", beam_size, 1)
    check_int("n_best", n_best, 1, beam_size)
    check_lengths(max_length, min_length)


def _check_penalty(length_penalty: str, alpha: float, no_repeat_ngram: int) -> None:
    if length_penalty not in LENGTH_PENALTIES:
        raise ValueError(
            f"length_penalty must be one of {', '.join(LENGTH_PENALTIES)}, got {length_penalty!r}"
        )
    check_nonnegative("alpha", alpha)
    check_int("no_repeat_ngram", no_repeat_ngram, 0)


def _top(candidates: Tensor, eos: int, K: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Best extensions of each example from its (B', k, V) candidate log-probs, k <= K.

    Returns the K-th best log-prob over all candidates (B', 1), and the best K extensions by
    a token other than eos: their log-probs (B', K), parent rows (B'K,) and tokens (B', K).
    The top 2K candidates hold at most k <= K eos ones (one per hypothesis), so K others.
    Where fewer than 2K candidates exist, the missing ones are dead (-inf) extensions of
    the example's last row.
    """
    B, k, V = candidates.shape
    flat = candidates.flatten(1)  # (B', kV)
    padded = flat.shape[1] < 2 * K
    if padded:
        flat = torch.nn.functional.pad(flat, (0, 2 * K - flat.shape[1]), value=float("-inf"))
    values, index = flat.topk(2 * K)  # (B', 2K), best first
    if padded:  # a dead candidate names the last real one, a row of its own example
        index = index.clamp(max=k * V - 1)
    is_eos = index % V == eos
    order = is_eos.to(torch.uint8).argsort(dim=1, stable=True)[:, :K]  # the others first
    log_prob = values.gather(1, order).masked_fill(is_eos.gather(1, order), float("-inf"))
    best = index.gather(1, order)  # (B', K) into the flat k*V candidates
    parent = (best // V + k * torch.arange(B, device=best.device)[:, None]).flatten()
    return values[:, K - 1 : K], log_prob, parent, best % V


def _stopped(pool: Pool, beams: Beams, lp_max: Tensor) -> Tensor:
    """(B',) True where no live hypothesis can enter the example's full pool."""
    best = beams.log_prob.max(1).values  # (B',)
    worst = pool.scores[beams.examples, -1]  # (B',) -inf until the pool holds n_best
    return (best / lp_max <= worst) | (best == float("-inf"))
