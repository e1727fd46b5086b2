"""Attention over a source memory: additive (Bahdanau) and multiplicative (Luong) scorers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells.activations import tanh
from rnnkit.checks import check_choice, check_int, check_size

__all__ = ["SCORERS", "Attention"]

SCORERS = ("additive", "dot", "general")


class Attention(nn.Module):
    r"""Global attention: a query scores every source position, ``softmax`` weights them.

    For a query q (B, Dq) and keys k_s (B, S, Dk), one score per source position s:

    .. math::
        \mathrm{score}(q, k_s) = v^\top \tanh(W_q q + W_k k_s + b)    \quad \text{additive}
        \mathrm{score}(q, k_s) = q^\top k_s                            \quad \text{dot}
        \mathrm{score}(q, k_s) = q^\top W k_s                          \quad \text{general}
        a_s = \mathrm{softmax}_s(\mathrm{score}(q, k_s)),  a_s = 0 where the mask is False
        c = \sum_s a_s k_s

    Additive is Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to
    Align and Translate" (2014); dot and general are Luong, Pham & Manning, "Effective
    Approaches to Attention-based Neural Machine Translation" (EMNLP 2015).

    The key side depends on the source alone, so :meth:`prepare` computes it once per source
    (``W_k k_s + b`` additive, ``W k_s`` general, ``k_s`` dot) and a decoder passes it to every
    step. A query (B, T, Dq) scores all T decoder steps at once (a pointer output, teacher
    forcing): scores and weights are then (B, T, S), the context (B, T, Dk).

    ============  =======================  ==========================================
    symbol        shape                    parameter
    ============  =======================  ==========================================
    q             (B, Dq) or (B, T, Dq)    the query (a decoder's hidden state)
    k_s           (B, S, Dk)               the keys, which are also the values
    W_q           (A, Dq)                  ``query_proj.weight`` (additive)
    W_k, b        (A, Dk), (A,)            ``key_proj.weight``, ``key_proj.bias`` (additive)
    v             (1, A)                   ``v.weight`` (additive)
    W             (Dq, Dk)                 ``key_proj.weight`` (general)
    mask          (B, S) bool              True at real source positions
    ============  =======================  ==========================================

    Init: torch.nn.Linear's (they are ``nn.Linear`` modules). Each row of the mask needs at
    least one True: a row that is all padding has no distribution (its weights are NaN).

    Args:
        query_size: Dq.
        key_size: Dk.
        kind: one of ``SCORERS``; ``"dot"`` needs Dq == Dk.
        attention_size: A, the width of the additive scorer (default Dq); additive only.
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        *,
        kind: str = "general",
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        self.query_size = check_size("query_size", query_size)
        self.key_size = check_size("key_size", key_size)
        self.kind = check_choice("kind", kind, SCORERS)
        check_int("attention_size", attention_size, 1, optional=True)
        if kind != "additive" and attention_size is not None:
            raise ValueError(
                f"attention_size is the width of the additive scorer; kind={kind!r} has none, "
                f"got attention_size={attention_size!r}"
            )
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size, got query_size={query_size}, "
                f"key_size={key_size} (use kind='general' or 'additive')"
            )
        self.attention_size = query_size if attention_size is None else attention_size
        A = self.attention_size
        if kind == "additive":
            self.query_proj = nn.Linear(query_size, A, bias=False)  # W_q
            self.key_proj = nn.Linear(key_size, A)  # W_k, b
            self.v = nn.Linear(A, 1, bias=False)  # v
        elif kind == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)  # W

    def prepare(self, keys: Tensor) -> Tensor:
        """The key side of the score, once per source: (B, S, Dk) -> (B, S, A | Dq | Dk)."""
        return keys if self.kind == "dot" else self.key_proj(keys)

    def scores(self, query: Tensor, prepared: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, Dq) -> (B, S) or (B, T, Dq) -> (B, T, S); -inf where ``mask`` (B, S) is False."""
        if query.dim() not in (2, 3):
            raise ValueError(f"query must be (B, Dq) or (B, T, Dq), got {tuple(query.shape)}")
        q = query if query.dim() == 3 else query.unsqueeze(1)  # (B, T, Dq)
        if self.kind == "additive":
            hidden = self.query_proj(q).unsqueeze(2) + prepared.unsqueeze(1)  # (B, T, S, A)
            scores = self.v(tanh(hidden)).squeeze(-1)  # (B, T, S)
        else:
            scores = q @ prepared.transpose(1, 2)  # (B, T, S)
        if mask is not None:
            _check_mask(mask, prepared)
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return scores if query.dim() == 3 else scores.squeeze(1)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        *,
        prepared: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """-> (context c (B, [T,] Dk), weights a (B, [T,] S)); ``prepared`` = prepare(keys)."""
        if prepared is None:
            prepared = self.prepare(keys)
        weights = torch.softmax(self.scores(query, prepared, mask), dim=-1)  # (B, [T,] S)
        if weights.dim() == 3:
            return weights @ keys, weights  # (B, T, Dk)
        return (weights.unsqueeze(1) @ keys).squeeze(1), weights  # (B, Dk)

    def num_parameters(self) -> int:
        """Additive A(Dq + Dk + 2), general Dq·Dk, dot 0."""
        Dq, Dk, A = self.query_size, self.key_size, self.attention_size
        return {"additive": A * (Dq + Dk + 2), "general": Dq * Dk, "dot": 0}[self.kind]

    def extra_repr(self) -> str:
        extra = f", attention_size={self.attention_size}" if self.kind == "additive" else ""
        return f"{self.query_size}, {self.key_size}, kind={self.kind!r}{extra}"


def _check_mask(mask: Tensor, prepared: Tensor) -> None:
    """A bool (B, S) mask matching the keys."""
    if mask.dtype != torch.bool or mask.shape != prepared.shape[:2]:
        raise ValueError(
            f"mask must be bool of shape {tuple(prepared.shape[:2])} (B, S), got {mask.dtype} "
            f"of shape {tuple(mask.shape)}"
        )
