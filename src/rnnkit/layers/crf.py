"""A linear-chain conditional random field over tag sequences, batched and masked by length."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.checks import check_choice, check_size

__all__ = ["LinearChainCRF"]

REDUCTIONS = ("mean", "sum", "none", "token_mean")


class LinearChainCRF(nn.Module):
    r"""Linear-chain CRF (Lafferty, McCallum & Pereira, 2001) on top of per-step tag scores.

    For a sequence of length L with emissions e (L, K) and tags y_1..y_L:

    .. math::
        score(x, y) = start[y_1] + \sum_{t=1}^{L} e_t[y_t]
                      + \sum_{t=2}^{L} transitions[y_{t-1}, y_t] + end[y_L]
        \alpha_1 = start + e_1
        \alpha_t(j) = \mathrm{logsumexp}_i(\alpha_{t-1}(i) + transitions[i, j]) + e_t(j)
        \log Z = \mathrm{logsumexp}_j(\alpha_L(j) + end[j])
        nll(x, y) = \log Z - score(x, y) = -\log p(y | x) \ge 0

    Viterbi replaces logsumexp by max and keeps the argmax as a backpointer:
    ``delta_t(j) = max_i(delta_{t-1}(i) + transitions[i, j]) + e_t(j)``,
    ``bp_t(j) = argmax_i(...)``; the best path ends at ``argmax_j(delta_L(j) + end[j])`` and
    is read back through ``bp_L, ..., bp_2``.

    ``transitions[i, j]`` scores tag i followed by tag j. All parameters start uniform in
    (-0.1, 0.1), drawn from torch's global generator.

    Shapes (B batch, T padded time, K tags):

    ============  ============  ==========================================================
    emissions     (B, T, K)     float, per-step tag scores (e.g. a projection of an RNN)
    tags          (B, T)        int64 in [0, K) at steps t < lengths[b]
    lengths       (B,)          int64 in [1, T] (a list of ints is accepted too)
    result        (B,)          ``log_partition``, ``score``, ``nll(reduction="none")``
    ============  ============  ==========================================================

    Steps t >= lengths[b] are padding and have no effect at all, whatever their emission
    values (even inf or nan) or tag ids: the emissions are zeroed there, the forward variable
    is carried unchanged past each length, and ``end`` scores each sequence's own last tag.

    Args:
        num_tags: K, the number of tags.
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = check_size("num_tags", num_tags)
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # (K, K)
        self.start = nn.Parameter(torch.empty(num_tags))  # (K,)
        self.end = nn.Parameter(torch.empty(num_tags))  # (K,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in (-0.1, 0.1)."""
        for p in (self.transitions, self.start, self.end):
            nn.init.uniform_(p, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        lengths: Tensor | Sequence[int],
        *,
        reduction: str = "mean",
    ) -> Tensor:
        """The negative log-likelihood: the same as :meth:`nll`."""
        return self.nll(emissions, tags, lengths, reduction=reduction)

    def log_partition(self, emissions: Tensor, lengths: Tensor | Sequence[int]) -> Tensor:
        """log Z of each sequence by the forward algorithm: (B, T, K), (B,) -> (B,)."""
        emissions, lengths, valid = self._check(emissions, lengths)
        alpha = self.start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            paths = alpha.unsqueeze(2) + self.transitions  # (B, K_prev, K)
            new = torch.logsumexp(paths, dim=1) + emissions[:, t]  # (B, K)
            alpha = torch.where(valid[:, t : t + 1], new, alpha)  # frozen past each length
        return torch.logsumexp(alpha + self.end, dim=1)  # (B,)

    def score(self, emissions: Tensor, tags: Tensor, lengths: Tensor | Sequence[int]) -> Tensor:
        """The unnormalised score of each tag sequence: (B, T, K), (B, T), (B,) -> (B,)."""
        emissions, lengths, valid = self._check(emissions, lengths)
        tags = self._check_tags(tags, valid)  # (B, T), 0 at padding
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T), 0 at padding
        moves = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        moves = moves.masked_fill(~valid[:, 1:], 0)  # no move into a padded step
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return self.start[tags[:, 0]] + emitted.sum(1) + moves.sum(1) + self.end[last]

    def nll(
        self,
        emissions: Tensor,
        tags: Tensor,
        lengths: Tensor | Sequence[int],
        *,
        reduction: str = "mean",
    ) -> Tensor:
        """log Z - score(x, y), i.e. -log p(y | x), reduced over the batch.

        Args:
            emissions: (B, T, K) tag scores.
            tags: (B, T) gold tags.
            lengths: (B,) sequence lengths in [1, T].
            reduction: ``"mean"`` over sequences, ``"sum"``, ``"none"`` (the (B,) values) or
                ``"token_mean"`` (the sum divided by the total number of valid steps).
        """
        check_choice("reduction", reduction, REDUCTIONS)
        losses = self.log_partition(emissions, lengths) - self.score(emissions, tags, lengths)
        if reduction == "none":
            return losses  # (B,)
        if reduction == "sum":
            return losses.sum()
        if reduction == "mean":
            return losses.mean()
        total = torch.as_tensor(lengths, device=losses.device).sum()
        return losses.sum() / total.to(losses.dtype)

    @torch.no_grad()
    def decode_tensor(self, emissions: Tensor, lengths: Tensor | Sequence[int]) -> Tensor:
        """The Viterbi best tag path of each sequence: (B, T, K), (B,) -> (B, T) int64, 0-padded."""
        emissions, lengths, valid = self._check(emissions, lengths)
        B, T, K = emissions.shape
        stay = torch.arange(K, device=emissions.device).expand(B, K)  # identity backpointers
        delta = self.start + emissions[:, 0]  # (B, K)
        backpointers = []  # bp_t: (B, K), the best previous tag for each tag at step t
        for t in range(1, T):
            paths = delta.unsqueeze(2) + self.transitions  # (B, K_prev, K)
            best, bp = paths.max(dim=1)  # (B, K), (B, K)
            delta = torch.where(valid[:, t : t + 1], best + emissions[:, t], delta)
            backpointers.append(torch.where(valid[:, t : t + 1], bp, stay))
        tag = (delta + self.end).argmax(dim=1)  # (B,) last tag (held through the padding)
        path = [tag]
        for bp in reversed(backpointers):
            tag = bp.gather(1, tag.unsqueeze(1)).squeeze(1)  # (B,)
            path.append(tag)
        path = torch.stack(path[::-1], dim=1)  # (B, T)
        return path.masked_fill(~valid, 0)

    def decode(self, emissions: Tensor, lengths: Tensor | Sequence[int]) -> list[list[int]]:
        """The Viterbi best tag path of each sequence, each a list of its own length."""
        paths = self.decode_tensor(emissions, lengths).tolist()  # (B, T)
        lengths = torch.as_tensor(lengths).tolist()
        return [path[:n] for path, n in zip(paths, lengths, strict=True)]

    def _check(
        self, emissions: Tensor, lengths: Tensor | Sequence[int]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Validated (emissions zeroed at padding (B, T, K), lengths (B,) int64, valid (B, T))."""
        K = self.num_tags
        if not isinstance(emissions, Tensor) or emissions.dim() != 3 or emissions.shape[2] != K:
            shape = tuple(emissions.shape) if isinstance(emissions, Tensor) else type(emissions)
            raise ValueError(f"emissions must be a (B, T, {K}) tensor, got {shape}")
        if not emissions.is_floating_point():
            raise ValueError(f"emissions must be floating point, got {emissions.dtype}")
        B, T, _ = emissions.shape
        if T < 1:
            raise ValueError("emissions must have at least one step (T >= 1), got T = 0")
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (B,) or lengths.is_floating_point() or lengths.is_complex():
            raise ValueError(
                f"lengths must be {B} integers (one per sequence), got {lengths.dtype} of shape "
                f"{tuple(lengths.shape)}"
            )
        if bool(((lengths < 1) | (lengths > T)).any()):
            raise ValueError(f"lengths must be in [1, {T}] (T = {T} steps), got {lengths.tolist()}")
        lengths = lengths.to(device=emissions.device, dtype=torch.long)
        valid = torch.arange(T, device=emissions.device) < lengths.unsqueeze(1)  # (B, T)
        zero = torch.zeros((), dtype=emissions.dtype, device=emissions.device)
        emissions = torch.where(valid.unsqueeze(2), emissions, zero)  # (B, T, K)
        return emissions, lengths, valid

    def _check_tags(self, tags: Tensor, valid: Tensor) -> Tensor:
        """Validated tags (B, T) int64, with every padded step set to tag 0."""
        if not isinstance(tags, Tensor) or tags.shape != valid.shape:
            shape = tuple(tags.shape) if isinstance(tags, Tensor) else type(tags)
            raise ValueError(
                f"tags must be a {tuple(valid.shape)} tensor like emissions, got {shape}"
            )
        if tags.is_floating_point() or tags.is_complex() or tags.dtype == torch.bool:
            raise ValueError(f"tags must be integer tag ids, got {tags.dtype}")
        tags = torch.where(valid, tags.to(device=valid.device, dtype=torch.long), 0)  # (B, T)
        bad = (tags < 0) | (tags >= self.num_tags)
        if bool(bad.any()):
            b, t = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"tags must be in [0, {self.num_tags}) before each length, got {int(tags[b, t])} "
                f"at sequence {b}, step {t}"
            )
        return tags
