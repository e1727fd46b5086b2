"""Zoneout: units keep their previous value at random (Krueger et al., 2017)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.checks import check_probability

State = Tensor | tuple[Tensor, ...]


class Zoneout(nn.Module):
    r"""Per-unit stochastic identity on the recurrent state.

    Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden Activations"
    (ICLR 2017). Given the previous state :math:`h_{t-1}` and the cell's new state
    :math:`\tilde h_t`, each unit keeps its old value with probability ``p``:

    .. math::
        d_t \sim \mathrm{Bernoulli}(p), \qquad
        h_t = d_t \odot h_{t-1} + (1 - d_t) \odot \tilde h_t      \quad \text{(training)}

        h_t = p \, h_{t-1} + (1 - p) \, \tilde h_t                \quad \text{(eval)}

    The eval line is the exact expectation of the training one. :math:`d_t` is drawn
    afresh at every step, per unit and per sequence.

    Which state fields: the output ``h`` (a tensor state, or field 0 of a tuple state)
    with probability ``p``; the memory of an LSTM-like state (a NamedTuple field named
    ``c``) with its own probability ``p_c`` (the paper's best LSTMs used p_c = 0.5,
    p = 0.05). Every other field (e.g. a step counter) is taken from the new state.

    Args:
        p: zoneout probability of ``h``, in [0, 1).
        p_c: zoneout probability of ``c`` in [0, 1); None means the same as ``p``.

    Example:
        >>> zoneout = Zoneout(0.05, p_c=0.5)
        >>> state = zoneout(prev_state, new_state)  # inside the time loop
    """

    def __init__(self, p: float, *, p_c: float | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.p_c = self.p if p_c is None else check_probability("p_c", p_c)

    def reset(self) -> None:
        """Nothing to forget: zoneout draws a fresh mask at every step."""

    def zone(self, prev: Tensor, new: Tensor, p: float) -> Tensor:
        """One field: keep ``prev`` with probability ``p`` (training) or mix (eval)."""
        if p == 0.0:
            return new
        if not self.training:
            return p * prev + (1 - p) * new
        keep = torch.empty_like(new).bernoulli_(p).bool()  # d_t, same shape as the field
        return torch.where(keep, prev, new)

    def forward(self, prev: State, new: State) -> State:
        """The zoned-out state from the previous state and the cell's new state."""
        if isinstance(new, Tensor):
            return self.zone(prev, new, self.p)
        fields = list(new)
        fields[0] = self.zone(prev[0], new[0], self.p)
        names = getattr(new, "_fields", ())
        if "c" in names:
            k = names.index("c")
            fields[k] = self.zone(prev[k], new[k], self.p_c)
        return type(new)(*fields) if names else tuple(fields)

    def extra_repr(self) -> str:
        return f"p={self.p}, p_c={self.p_c}"
