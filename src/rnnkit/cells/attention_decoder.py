"""A decoder step with global attention and input feeding (Luong et al. 2015)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.activations import tanh
from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import PerExample
from rnnkit.checks import check_bool

if TYPE_CHECKING:  # cells sit below layers: no run-time import of layers
    from rnnkit.layers.attention import Attention


class AttentionState(NamedTuple):
    """State of an :class:`AttentionDecoderCell`; every field has the batch in dim 0.

    The constant fields (values, keys, mask) are either tensors with one row per row, or all
    three :class:`~rnnkit.cells.state.PerExample`, held once per example (:meth:`shared`).
    """

    output: Tensor  # h̃_t (B, H): the attentional hidden state, fed back at t + 1
    inner: Any  # s_t: the wrapped cell's state (a tensor or an LSTMState)
    values: Tensor | PerExample  # (B, S, H) W_c^c m_s: the memory through W_c, constant
    keys: Tensor | PerExample  # attention.prepare(memory), constant
    mask: Tensor | PerExample  # (B, S) bool, True at real source positions, constant
    weights: Tensor  # a_t (B, S), the last step's attention weights (zeros before the first)

    def shared(self) -> AttentionState:
        """The values, keys and mask held once per example, for decoding.

        Beam search then expands and reorders them by example, not by hypothesis (no K copies
        of the memory, none copied each step), and a step scores each example's K queries
        against its one memory. The numbers are those of the row layout.
        """
        if isinstance(self.values, PerExample):
            return self
        values, keys, mask = (PerExample(t) for t in (self.values, self.keys, self.mask))
        return self._replace(values=values, keys=keys, mask=mask)


class AttentionDecoderCell(RecurrentCell):
    r"""One decoder step with global attention and input feeding (Luong, Pham & Manning 2015).

    .. math::
        x'_t = [x_t; \tilde h_{t-1}]        \quad (x'_t = x_t \text{ without input feeding})
        h_t, s_t = \mathrm{cell}(x'_t, s_{t-1})
        a_t = \mathrm{softmax}_s(\mathrm{score}(h_t, m_s))     \quad (0 \text{ where masked})
        c_t = \textstyle\sum_s a_t[s] \, m_s
        \tilde h_t = \tanh(W_c [c_t; h_t]) = \tanh(\textstyle\sum_s a_t[s] \, v_s + W_c^h h_t),
            \quad v_s = W_c^c m_s

    and the output is :math:`\tilde h_t`. Luong et al., "Effective Approaches to
    Attention-based Neural Machine Translation" (EMNLP 2015), Sections 3.1 (global attention)
    and 3.3 (input feeding: the previous attentional vector joins the input, so the decoder
    knows what it attended to). ``cell`` is any rnnkit cell (LSTM, GRU, ...), ``score`` any
    :class:`~rnnkit.layers.attention.Attention` (its ``query_size`` is H, its ``key_size``
    Dk).

    The context enters the output only through W_c, so each memory row goes through W_c's
    context columns once per source (:meth:`start`): a step then weighs H-wide values v_s
    instead of Dk-wide memory rows and multiplies h_t alone by W_c (H × H instead of
    H × (Dk + H)), which is most of a decoding step's saving when Dk = 2H (a bidirectional
    encoder). c_t itself is never formed.

    ==============  ============  =====================================================
    symbol          shape         code
    ==============  ============  =====================================================
    x_t             (B, D)        ``gx`` (``project_input`` is the identity: input
                                  feeding makes x'_t depend on the previous step)
    x'_t            (B, D + H)    ``x``, the wrapped cell's input (D without feeding)
    h_t, s_t        (B, H), any   ``h``, ``inner``: the wrapped cell's output and state
    m_s             (B, S, Dk)    ``memory`` of :meth:`start`, the encoder outputs
    a_t             (B, S)        ``a``, the attention weights
    c_t             (B, Dk)       the context vector (not formed)
    W_c             (H, Dk + H)   ``linear_out.weight`` (no bias), columns (W_c^c | W_c^h)
    v_s             (B, S, H)     ``state.values``, W_c^c m_s, once per source
    \tilde h_t      (B, H)        ``h_tilde``, the output and ``state.output``
    ==============  ============  =====================================================

    State: :class:`AttentionState` ``(output, inner, values, keys, mask, weights)``; the
    values, the prepared keys and the mask ride along unchanged, so a layer's length masking
    and a decoder's ``reorder_state`` (beam search) treat them like any other field. Build it
    with :meth:`start`; ``initial_state`` cannot, as it has no memory. Teacher forcing over a
    whole target is ``Recurrent(cell, batch_first=True)(y, cell.start(memory, mask))``. For
    decoding, ``cell.start(memory, mask).shared()`` holds them once per example, so beam
    search neither copies them K times nor reorders them each step (:meth:`attend`).

    Recurrent dropout belongs to the wrapped cell's candidate: ``candidate_dropout`` reads
    and sets the wrapped cell's, so ``Recurrent(..., recurrent_dropout=p)`` works.

    Init: ``linear_out`` is ``nn.Linear``'s; ``cell`` and ``attention`` keep their own.

    Args:
        cell: the wrapped cell; with input feeding its input_size is D + H.
        attention: the scorer, ``attention.query_size == cell.hidden_size``.
        input_feeding: concatenate h̃_{t-1} to x_t.
    """

    def __init__(
        self, cell: RecurrentCell, attention: Attention, *, input_feeding: bool = True
    ) -> None:
        check_bool("input_feeding", input_feeding)
        input_size = _check_parts(cell, attention, input_feeding)
        super().__init__(input_size, cell.hidden_size)
        self.input_feeding = input_feeding
        self.cell = cell
        self.attention = attention
        H = cell.hidden_size
        self.linear_out = nn.Linear(attention.key_size + H, H, bias=False)  # W_c

    @property
    def candidate_dropout(self) -> nn.Module | None:  # type: ignore[override]
        """The wrapped cell's recurrent dropout (the candidate lives there)."""
        return self.cell.candidate_dropout if "cell" in self._modules else None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "candidate_dropout":  # the base class's None comes before self.cell exists
            if "cell" in self._modules:
                self.cell.candidate_dropout = value
            return
        super().__setattr__(name, value)

    def start(
        self, memory: Tensor, mask: Tensor | None = None, inner: Any = None
    ) -> AttentionState:
        """The state before the first step: h̃_0 = 0, a_0 = 0, ``inner`` (None: zeros) for s_0.

        Args:
            memory: (B, S, Dk) encoder outputs.
            mask: (B, S) bool, True at real source positions (None: all real).
            inner: the wrapped cell's initial state, e.g. the encoder's final state.
        """
        _check_memory(memory, mask, self.attention.key_size)
        B, S = memory.shape[:2]
        if mask is None:
            mask = torch.ones(B, S, dtype=torch.bool, device=memory.device)
        if inner is None:
            inner = self.cell.initial_state(B, device=memory.device, dtype=memory.dtype)
        h_tilde = memory.new_zeros(B, self.hidden_size)
        keys = self.attention.prepare(memory)
        values = F.linear(memory, self.linear_out.weight[:, : self.attention.key_size])  # v_s
        return AttentionState(h_tilde, inner, values, keys, mask, memory.new_zeros(B, S))

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> AttentionState:
        """Not available: the state holds the memory."""
        raise ValueError(
            "AttentionDecoderCell has no state without the encoder memory: "
            "pass state=cell.start(memory, mask)"
        )

    def step(self, gx: Tensor, state: AttentionState) -> tuple[Tensor, AttentionState]:
        x = torch.cat([gx, state.output], dim=-1) if self.input_feeding else gx  # x'_t (B, D+H)
        h, inner = self.cell(x, state.inner)  # h_t (B, H), s_t
        context, a = self.attend(h, state)  # W_c^c c_t (B, H), a_t (B, S)
        W_h = self.linear_out.weight[:, self.attention.key_size :]  # W_c^h (H, H)
        h_tilde = tanh(torch.addmm(context, h, W_h.t()))  # (B, H)
        return h_tilde, state._replace(output=h_tilde, inner=inner, weights=a)

    def attend(self, h: Tensor, state: AttentionState) -> tuple[Tensor, Tensor]:
        """W_c^c c_t = Σ_s a_t[s] v_s (B, H) and the weights a_t (B, S) of the queries h_t (B, H).

        With the values held per example (B', S, H), each example's K = B / B' query rows
        score together: (B', K, H) against (B', S, ·), one batched product per example.
        """
        values, keys, mask = state.values, state.keys, state.mask
        if not isinstance(values, PerExample):
            a = torch.softmax(self.attention.scores(h, keys, mask), dim=-1)  # (B, S)
            return (a.unsqueeze(1) @ values).squeeze(1), a
        if not (isinstance(keys, PerExample) and isinstance(mask, PerExample)):
            raise ValueError("values, keys and mask are held per example together: use shared()")
        q = values.grouped(h)  # (B', K, H)
        a = torch.softmax(self.attention.scores(q, keys.tensor, mask.tensor), dim=-1)
        return (a @ values.tensor).flatten(0, 1), a.flatten(0, 1)  # (B'K, H), (B'K, S)

    def num_parameters(self) -> int:
        """The wrapped cell's + the attention's + H(Dk + H) for W_c."""
        H, Dk = self.hidden_size, self.attention.key_size
        return self.cell.num_parameters() + self.attention.num_parameters() + H * (Dk + H)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, input_feeding={self.input_feeding}"


def _check_parts(cell: RecurrentCell, attention: Attention, input_feeding: bool) -> int:
    """Validate the wrapped cell and the scorer; return D, the decoder's input size."""
    if not isinstance(cell, RecurrentCell):
        raise ValueError(f"cell must be a RecurrentCell, got {type(cell).__name__}")
    if not all(hasattr(attention, a) for a in ("query_size", "key_size", "prepare")):
        raise ValueError(f"attention must be an Attention, got {type(attention).__name__}")
    H = cell.hidden_size
    if attention.query_size != H:
        raise ValueError(
            f"attention.query_size must equal the cell's hidden_size {H} (h_t is the query), "
            f"got {attention.query_size}"
        )
    D = cell.input_size - H if input_feeding else cell.input_size
    if D < 1:
        raise ValueError(
            f"with input_feeding the cell reads [x_t; h̃_(t-1)], so its input_size must exceed "
            f"its hidden_size {H}, got input_size={cell.input_size}"
        )
    return D


def _check_memory(memory: Tensor, mask: Tensor | None, key_size: int) -> None:
    """memory (B, S, Dk) and mask (B, S) bool."""
    if memory.dim() != 3 or memory.shape[-1] != key_size:
        raise ValueError(f"memory must be (B, S, {key_size}), got {tuple(memory.shape)}")
    if mask is not None and (mask.dtype != torch.bool or mask.shape != memory.shape[:2]):
        raise ValueError(
            f"mask must be bool of shape {tuple(memory.shape[:2])} (B, S), got {mask.dtype} "
            f"of shape {tuple(mask.shape)}"
        )
