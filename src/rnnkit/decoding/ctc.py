r"""Decoding CTC outputs: best path and prefix beam search, with optional LM shallow fusion.

A CTC recogniser gives per-frame log-probs ``log y_t(k)`` over labels and a blank ``∅``
(:mod:`rnnkit.layers.ctc`). Two decoders read a label sequence off them.

**Best path** takes the most probable symbol of each frame and collapses the path (merge
repeats, drop blanks): ``ŷ = 𝓑(argmax_k y_1(k), …, argmax_k y_T(k))``. It is the most probable
*alignment*, not always the most probable *label sequence*, which sums over alignments.

**Prefix beam search** (Graves 2012, §7.5; Hannun et al. 2014) keeps the ``K`` most probable
label prefixes ``ℓ``, each with two probabilities after frame ``t``: of the alignments that
collapse to ``ℓ`` and end in a blank, ``p_b(ℓ)``, and end in its last label, ``p_nb(ℓ)``. With
``P(ℓ) = p_b(ℓ) + p_nb(ℓ)``, frame ``t + 1`` updates::

    p_b'(ℓ)  += P(ℓ) · y(∅)                       a blank keeps the prefix
    p_nb'(ℓ) += p_nb(ℓ) · y(ℓ_last)               a repeat of the last label merges into it
    p_nb'(ℓc) += p_b(ℓ) · y(c)      if c = ℓ_last  a repeat after a blank is a new label
    p_nb'(ℓc) += P(ℓ) · y(c)        otherwise

(sums in log space). The prefixes are ranked by the score

    score(ℓ) = log P(ℓ) + α · log p_LM(ℓ) + β · |ℓ|

where ``p_LM(ℓ) = Π_i p_LM(ℓ_i | ℓ_<i)`` comes from a language model over the labels (shallow
fusion, ``lm_weight`` α, ``length_bonus`` β; no LM: α = β = 0), and the ``K`` best survive each
frame. With a beam wide enough to keep every prefix, ``P(ℓ)`` is exactly ``p(ℓ | x)``, the sum
over all alignments. With ``K = 1`` it keeps the prefix of largest merged probability, which
equals best path whenever each frame's best symbol has probability above 1/2 and may differ
otherwise (the tests show both).

Shapes: ``log_probs`` (B, T, C) batch first, log-softmax over C; ``lengths`` (B,) valid frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.cells.state import map_state, reorder_state
from rnnkit.checks import check_finite, check_int
from rnnkit.decoding.step import Hypothesis, Step

NEG_INF = -math.inf
Prefix = tuple[int, ...]


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """``𝓑``: merge adjacent repeats, then drop blanks (``a a ∅ a b b -> a a b``)."""
    return [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]


def best_path(log_probs: Tensor, lengths: Tensor, *, blank: int = 0) -> list[list[int]]:
    """(B, T, C) log-probs, (B,) frames -> each sequence's collapsed best path."""
    _check(log_probs, lengths, blank)
    best = log_probs.argmax(-1).tolist()  # (B, T)
    return [collapse(path[:n], blank) for path, n in zip(best, lengths.tolist(), strict=True)]


class LMFusion:
    """A language model over the labels, for shallow fusion, on the decoders' ``Step``.

    ``step(tokens (N,), state) -> (log_probs (N, V), state)`` is any rnnkit model's step (a
    character LM from ``rnnkit train lm``); ``initial_state`` is its state for one row (batch
    dim 0), ``bos`` the token fed first (a character LM: the line break it was primed with),
    and ``label_tokens[k]`` the LM token of CTC label ``k`` (``None`` at the blank). A label
    with no LM token gets log-prob ``-inf`` from the LM, so it is never proposed; map it to
    ``<unk>`` to allow it.
    """

    def __init__(
        self, step: Step, initial_state: Any, bos: int, label_tokens: Sequence[int | None]
    ) -> None:
        self.step, self.bos = step, bos
        self.columns = torch.tensor([-1 if t is None else t for t in label_tokens])
        self.root = self._advance([initial_state], [bos])[0]

    def root_entry(self) -> LMEntry:
        """The LM before any label: its next-label log-probs and state."""
        return self.root

    def extend(self, parents: list[LMEntry], labels: list[int]) -> list[LMEntry]:
        """The entries of each ``parent`` prefix extended by its ``label``, in one batched step."""
        tokens = [int(self.columns[k]) for k in labels]
        return self._advance([p.state for p in parents], tokens)

    @torch.no_grad()
    def _advance(self, states: list[Any], tokens: list[int]) -> list[LMEntry]:
        state = map_state(lambda *rows: torch.cat(rows), *states)  # N rows of one state each
        log_probs, state = self.step(torch.tensor(tokens), state)  # (N, V)
        known = self.columns >= 0
        by_label = torch.full((len(tokens), len(self.columns)), NEG_INF)
        by_label[:, known] = log_probs[:, self.columns[known]].float().cpu()
        rows = range(len(tokens))
        return [LMEntry(by_label[i].numpy(), reorder_state(state, torch.tensor([i]))) for i in rows]


@dataclass
class LMEntry:
    """The LM after a prefix: log-probs of each next label (C,), and its state (one row)."""

    next_log_probs: np.ndarray
    state: Any


@dataclass
class _Beam:
    """A prefix's probabilities after the frames read so far (log space)."""

    p_b: float = NEG_INF
    p_nb: float = NEG_INF
    lm: float = 0.0  # log p_LM(prefix)
    entry: LMEntry | None = field(default=None, repr=False)  # the LM after this prefix
    parent: LMEntry | None = field(default=None, repr=False)  # the LM before its last label

    def total(self) -> float:
        return np.logaddexp(self.p_b, self.p_nb)


def prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor,
    *,
    beam_size: int = 8,
    blank: int = 0,
    lm: LMFusion | None = None,
    lm_weight: float = 0.0,
    length_bonus: float = 0.0,
) -> list[list[Hypothesis]]:
    """The ``beam_size`` best label sequences of each example, best first (module docstring).

    Each ``Hypothesis`` has ``tokens`` (labels), ``score`` (the fused score), ``log_prob``
    (``log P(ℓ)``, the CTC part) and ``finished=True``. The LM of every example's new prefixes
    runs in one batched step per frame.
    """
    _check(log_probs, lengths, blank)
    check_int("beam_size", beam_size, 1)
    check_finite("lm_weight", lm_weight)
    check_finite("length_bonus", length_bonus)
    frames = log_probs.detach().cpu().double().numpy()  # (B, T, C)
    root = lm.root_entry() if lm is not None else None
    beams = [{(): _Beam(p_b=0.0, entry=root)} for _ in range(len(frames))]
    rank = _Ranker(lm_weight, length_bonus)
    for t in range(frames.shape[1]):
        for b, n in enumerate(lengths.tolist()):
            if t < n:
                beams[b] = rank.prune(_extend(beams[b], frames[b, t], blank, lm), beam_size)
        if lm is not None:
            _attach_lm(beams, lm)
    return [rank.hypotheses(found) for found in beams]


def _extend(
    beams: dict[Prefix, _Beam], y: np.ndarray, blank: int, lm: LMFusion | None
) -> dict[Prefix, _Beam]:
    """One frame of the recursion in the module docstring; ``y`` (C,) log-probs."""
    new: dict[Prefix, _Beam] = {}

    def at(prefix: Prefix, source: _Beam, label: int | None) -> _Beam:
        if prefix not in new:  # log p_LM(prefix) is the same whichever way it is reached
            lm_score = source.lm if label is None else source.lm + _lm_step(source, label, lm)
            new[prefix] = _Beam(lm=lm_score, parent=source.entry if label is not None else None)
        if label is None and new[prefix].entry is None:
            new[prefix].entry = source.entry  # filled by _attach_lm when only grown
        return new[prefix]

    for prefix, beam in beams.items():
        total = beam.total()
        stay = at(prefix, beam, None)
        stay.p_b = np.logaddexp(stay.p_b, total + y[blank])
        if prefix:
            stay.p_nb = np.logaddexp(stay.p_nb, beam.p_nb + y[prefix[-1]])
        for c in range(len(y)):
            if (
                c == blank
                or y[c] == NEG_INF
                or (lm is not None and _lm_step(beam, c, lm) == NEG_INF)
            ):
                continue  # impossible, or a label the LM has no token for
            grown = at((*prefix, c), beam, c)
            source = beam.p_b if prefix and c == prefix[-1] else total
            grown.p_nb = np.logaddexp(grown.p_nb, source + y[c])
    return new


def _lm_step(parent: _Beam, label: int, lm: LMFusion | None) -> float:
    return 0.0 if lm is None else float(parent.entry.next_log_probs[label])


def _attach_lm(beams: list[dict[Prefix, _Beam]], lm: LMFusion) -> None:
    """Give each surviving new prefix its LM entry: one batched LM step for the whole batch."""
    todo = [(beam, p[-1]) for found in beams for p, beam in found.items() if beam.entry is None]
    if todo:
        entries = lm.extend([beam.parent for beam, _ in todo], [label for _, label in todo])
        for (beam, _), entry in zip(todo, entries, strict=True):
            beam.entry = entry


@dataclass
class _Ranker:
    """``score(ℓ) = log P(ℓ) + α · log p_LM(ℓ) + β · |ℓ|``, and pruning by it."""

    lm_weight: float
    length_bonus: float

    def score(self, prefix: Prefix, beam: _Beam) -> float:
        return beam.total() + self.lm_weight * beam.lm + self.length_bonus * len(prefix)

    def prune(self, beams: dict[Prefix, _Beam], k: int) -> dict[Prefix, _Beam]:
        """The ``k`` best prefixes that some alignment reaches (a repeat with no blank
        between, e.g., none does yet: ``P(ℓ) = 0``)."""
        possible = [kv for kv in beams.items() if kv[1].total() > NEG_INF]
        return dict(sorted(possible, key=lambda kv: self.score(*kv), reverse=True)[:k])

    def hypotheses(self, beams: dict[Prefix, _Beam]) -> list[Hypothesis]:
        ranked = sorted(beams.items(), key=lambda kv: self.score(*kv), reverse=True)
        return [Hypothesis(list(p), self.score(p, b), float(b.total()), True) for p, b in ranked]


def _check(log_probs: Tensor, lengths: Tensor, blank: int) -> None:
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (B, T, C), got shape {tuple(log_probs.shape)}")
    B, T, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank {blank} is not one of the {C} symbols")
    if lengths.shape != (B,) or (B and (lengths.min() < 0 or lengths.max() > T)):
        raise ValueError(f"lengths must be ({B},) frame counts in [0, {T}]")
