"""The time loop: a cell unrolled over a sequence, with lengths, reversal and regularizers."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import State, map_state, state_output
from rnnkit.checks import check_bool
from rnnkit.layers.fused.checkpoint import check_checkpoint_every, checkpointed_unroll
from rnnkit.layers.fused.dispatch import fused_unroll
from rnnkit.layers.lengths import (
    Lengths,
    broadcast_mask,
    check_lengths,
    last_outputs,
    reverse_within,
    run_packed,
    valid_mask,
    zero_padding,
)
from rnnkit.regularizers import RecurrentDropout, VariationalDropout, WeightDrop, Zoneout

__all__ = ["Recurrent", "last_outputs"]


def _as(kind: type[nn.Module], name: str, value: nn.Module | float | None) -> nn.Module | None:
    """A regularizer option: an instance of ``kind``, a probability (-> ``kind(p)``) or None."""
    if value is None or isinstance(value, kind):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return kind(value)
    raise ValueError(f"{name} must be a {kind.__name__}, a probability or None, got {value!r}")


class Recurrent(nn.Module):
    r"""A cell unrolled over time: ``forward(x, state, lengths=) -> (output, final_state)``.

    For t = 1..T (reversed within each sequence's length when ``reverse``)::

        gx = cell.project_input(dropout_in(x))          # all steps at once: (T, B, G)
        h_t, s_t = cell.step(gx[t], drop_h(s_{t-1}))     # drop_h masks only h
        s_t = zoneout(s_{t-1}, s_t)                      # h_t = h of the zoned-out s_t
        s_t = s_{t-1} where t >= lengths[b]              # frozen past each length
        output[t] = h_t, or 0 where t >= lengths[b]
        output = dropout_out(output)

    Regularizers are explicit objects (or a probability, which builds the default object);
    each is reset at the start of every forward and is off in eval mode:

    - ``input_dropout``, ``output_dropout``: :class:`VariationalDropout`, one mask per
      sequence over the inputs / outputs.
    - ``state_dropout``: :class:`VariationalDropout` on the recurrent input h_{t-1} (only
      the h field of a tuple state), one mask per sequence (Gal & Ghahramani, 2016). The
      carried state is not masked, only what the step sees. In a GRU h_{t-1} also enters the
      interpolation ``z ⊙ h_{t-1}`` (as with TF's ``DropoutWrapper``); to drop only the
      recurrent weights use ``weight_drop``.
    - ``recurrent_dropout``: :class:`RecurrentDropout` on the candidate, installed as
      ``cell.candidate_dropout`` at construction.
    - ``zoneout``: :class:`Zoneout` on h (and c).
    - ``weight_drop``: :class:`WeightDrop` on the cell's parameters (default
      ``weight_hh*``), one mask for all steps, new per forward.

    Fast path: cells registered in :mod:`rnnkit.layers.fused` (``LSTMCell``,
    ``PeepholeLSTMCell``, ``LayerNormLSTMCell``, ``GRUCell``) run the whole loop, with every
    regularizer above and the lengths, as one fused autograd Function with a hand-written
    backward; other cells (and anything inside ``rnnkit.layers.fused.disabled()``) step
    through ``cell.step`` as written above. Both give the same values.

    Args:
        cell: the cell to unroll.
        batch_first: inputs and outputs are (B, T, ...) instead of (T, B, ...).
        reverse: run from each sequence's last valid step to its first (padding stays at
            the end; the output is returned in the original time order).
        checkpoint_every: K: when gradients are recorded, keep the state only every K steps
            and recompute each K-step segment in the backward pass (gradient checkpointing:
            activation memory O(K + T/K) instead of O(T), about one more forward pass of
            time; K ≈ √T is best). The gradients are those of full backpropagation.

    Shapes: x (T, B, D) (a conv cell: (T, B, C, H, W)); output (T, B, H); the state is the
    cell's. ``lengths`` is a (B,) integer tensor on any device or a list; a
    ``PackedSequence`` input gives a ``PackedSequence`` output. ``state=None`` starts from
    ``cell.zero_state(x[0])``.
    """

    def __init__(
        self,
        cell: RecurrentCell,
        *,
        batch_first: bool = False,
        reverse: bool = False,
        input_dropout: VariationalDropout | float | None = None,
        state_dropout: VariationalDropout | float | None = None,
        output_dropout: VariationalDropout | float | None = None,
        recurrent_dropout: RecurrentDropout | float | None = None,
        zoneout: Zoneout | float | None = None,
        weight_drop: WeightDrop | float | None = None,
        checkpoint_every: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(cell, RecurrentCell):
            raise ValueError(f"cell must be a RecurrentCell, got {type(cell).__name__}")
        self.cell = cell
        self.batch_first = check_bool("batch_first", batch_first)
        self.reverse = check_bool("reverse", reverse)
        self.checkpoint_every = check_checkpoint_every(checkpoint_every)
        self.input_dropout = _as(VariationalDropout, "input_dropout", input_dropout)
        self.state_dropout = _as(VariationalDropout, "state_dropout", state_dropout)
        self.output_dropout = _as(VariationalDropout, "output_dropout", output_dropout)
        self.zoneout = _as(Zoneout, "zoneout", zoneout)
        self.weight_drop = _as(WeightDrop, "weight_drop", weight_drop)
        recurrent_dropout = _as(RecurrentDropout, "recurrent_dropout", recurrent_dropout)
        if recurrent_dropout is not None:
            cell.candidate_dropout = recurrent_dropout
        regularizers = [r for r in self._regularizers() if r is not None]
        if len({id(r) for r in regularizers}) != len(regularizers):
            raise ValueError("each regularizer owns its masks: pass a separate object per site")

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        return self.cell.hidden_size

    def _regularizers(self) -> list[nn.Module | None]:
        return [
            self.input_dropout,
            self.state_dropout,
            self.output_dropout,
            self.cell.candidate_dropout,
            self.zoneout,
            self.weight_drop,
        ]

    def forward(
        self,
        x: Tensor | PackedSequence,
        state: State | None = None,
        *,
        lengths: Lengths | None = None,
    ) -> tuple[Tensor | PackedSequence, State]:
        """Unroll the cell over ``x``; see the class docstring for shapes."""
        if isinstance(x, PackedSequence):
            if lengths is not None:
                raise ValueError("pass lengths or a PackedSequence, not both")
            return run_packed(self.forward, x, state, batch_first=self.batch_first)
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, ...)
        T, B = x.shape[:2]
        lengths = check_lengths(lengths, T, B, x.device)
        for regularizer in self._regularizers():
            if hasattr(regularizer, "reset"):
                regularizer.reset()
        if self.reverse:
            x = reverse_within(x, lengths)
        if state is None:
            state = self.cell.zero_state(x[0])
        dropping = nullcontext()
        if self.weight_drop is not None:
            dropping = self.weight_drop.applied(self.cell)
        with dropping:
            if self.checkpoint_every is not None and torch.is_grad_enabled():
                output, state = checkpointed_unroll(
                    self._segment, x, state, lengths, self.checkpoint_every, self.cell
                )
            else:
                output, state = self._segment(x, state, lengths)  # (T, B, H)
        self._check_candidate_used()
        output = zero_padding(output, lengths)
        if self.output_dropout is not None:
            output = self.output_dropout(output, time_dim=0)
        if self.reverse:
            output = reverse_within(output, lengths)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, state

    def _segment(self, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """Input dropout, projection and loop over (T, B, ...) steps -> (T, B, H), final state."""
        if self.input_dropout is not None:
            x = self.input_dropout(x, time_dim=0)
        gx = self.cell.project_input(x.flatten(0, 1)).unflatten(0, x.shape[:2])  # (T, B, G)
        return self._unroll(gx, state, lengths)

    def _unroll(self, gx: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """The loop: (T, B, G) projected inputs and the initial state -> (T, B, H), final state."""
        step, drop_h, zoneout = self.cell.step, self.state_dropout, self.zoneout
        valid, first_partial = None, 0
        if lengths is not None:
            valid = valid_mask(lengths, gx.shape[0])  # (T, B)
            if lengths.device.type == "cpu":  # steps before the shortest length need no mask
                first_partial = int(lengths.min())
        all_valid = valid is None or first_partial >= gx.shape[0]
        fused = fused_unroll(
            self.cell,
            gx,
            state,
            state_dropout=drop_h,
            zoneout=zoneout,
            valid=None if all_valid else valid,
        )
        if fused is not None:
            return fused
        outputs = []
        steps = gx.unbind(0)  # gx[t] would make backward build a full (T, B, G) zero grad per step
        for t in range(gx.shape[0]):
            prev = state
            seen = prev if drop_h is None else _replace_h(prev, drop_h(state_output(prev)))
            h, state = step(steps[t], seen)
            if zoneout is not None:
                state = zoneout(prev, state)
                h = state_output(state)
            if valid is not None and t >= first_partial:
                state = _freeze(valid[t], state, prev)
            outputs.append(h)
        return torch.stack(outputs), state

    def _check_candidate_used(self) -> None:
        dropout = self.cell.candidate_dropout
        unused = isinstance(dropout, RecurrentDropout) and dropout.training and dropout.p > 0
        if unused and dropout.mask is None:
            raise ValueError(
                f"{type(self.cell).__name__} never passed a candidate through "
                "self.candidate(g), so recurrent_dropout would have no effect"
            )

    def extra_repr(self) -> str:
        extra = f", checkpoint_every={self.checkpoint_every}" if self.checkpoint_every else ""
        return f"batch_first={self.batch_first}, reverse={self.reverse}{extra}"


def _freeze(keep: Tensor, state: State, prev: State) -> State:
    """Each field of ``state`` where ``keep`` (B,) is True, else the field of ``prev``."""
    return map_state(
        lambda new, old: torch.where(broadcast_mask(keep, new.dim()), new, old), state, prev
    )


def _replace_h(state: State, h: Tensor) -> State:
    """``state`` with its output field h replaced."""
    if isinstance(state, Tensor):
        return h
    fields = (h, *state[1:])
    return type(state)(*fields) if hasattr(state, "_fields") else fields
