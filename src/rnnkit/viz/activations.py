r"""What a language model's cells do at each position of a text, for the views.

The model's ``rnn`` runs on torch's native kernel, which returns only ``h`` of the last layer.
:func:`cell_activations` unrolls the same weights through rnnkit's time loop
(:class:`~rnnkit.layers.Recurrent`, one layer at a time) with a cell that emits its whole state
at every step, so ``c_t`` is read rather than reconstructed. The gates are then recomputed,
all steps at once, from the cell's documented equations with the same weights, from
``x_t`` and the ``h_{t-1}`` that the step saw:

.. math::
    a_t = \sigma(W_{ia} x_t + b_{ia} + W_{ha} h_{t-1} + b_{ha}),
    \quad a \in \{i, f, o\} \text{ (LSTM)}, \{r, z\} \text{ (GRU)}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import State, state_output
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.stacks import make_cell
from rnnkit.layers.torch_layout import layer_weights, split_hidden
from rnnkit.regularizers import Zoneout

__all__ = ["GATES", "TEXT_COLOUR_JS", "CellActivations", "cell_activations"]

#: Gate names per cell kind, in the order of their rows in ``weight_ih`` (the candidate left out).
GATES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update"), "rnn": ()}
_ROWS = {"lstm": (0, 1, 3), "gru": (0, 1), "rnn": ()}  # H-row blocks of the gates above

#: The views' one rule for text on a coloured background, in the JavaScript both pages run
#: (``rnnkit serve``'s page loads it, ``rnnkit inspect``'s page inlines it): black or white,
#: whichever contrasts more by WCAG 2 (relative luminance ``L``, contrast ``(L1 + 0.05) /
#: (L2 + 0.05)``), so white wins below ``L = sqrt(1.05 * 0.05) - 0.05``, about 0.179. The
#: background is ``rgb`` (0-255) at opacity ``a`` over the white page.
TEXT_COLOUR_JS = """\
function textColour(r, g, b, a = 1) {
  const linear = (c) => {  // an sRGB channel, blended over white, to linear light
    const s = (255 + (c - 255) * a) / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const L = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  return (L + 0.05) * (L + 0.05) < 1.05 * 0.05 ? "#fff" : "#000";  // white's contrast wins
}
"""


@dataclass(frozen=True)
class CellActivations:
    """Every layer's activations over one text (T positions, H units, V tokens)."""

    h: Tensor  # (num_layers, T, H): each layer's output h_t
    cell: Tensor | None  # (num_layers, T, H): tanh(c_t) for an LSTM, None otherwise
    gates: dict[str, Tensor]  # name -> (num_layers, T, H) in [0, 1]
    next_probs: Tensor  # (T, V): softmax of the model's output, the next token's distribution
    state: Any  # the final state in the model's layout (to carry into the next chunk)

    @property
    def kind(self) -> str:
        """``"lstm"``, ``"gru"`` or ``"rnn"``."""
        return "lstm" if self.cell is not None else ("gru" if self.gates else "rnn")

    def view(self, layer: int) -> Tensor:
        """The activation the pages colour by: tanh(c) for an LSTM, else h; (T, H)."""
        return (self.cell if self.cell is not None else self.h)[layer]


class _WholeState(RecurrentCell):
    """A cell that outputs its whole state: (h | c) for an LSTM, h otherwise; zoneout inside.

    Zoneout (eval: ``p * s_{t-1} + (1 - p) * s_t``) is applied here rather than by
    :class:`Recurrent`, whose zoneout would keep only the h field of the output.
    """

    def __init__(self, cell: RecurrentCell, zoneout: Zoneout | None) -> None:
        super().__init__(cell.input_size, cell.hidden_size)
        self.cell, self.zoneout = cell, zoneout

    def zero_state(self, x: Tensor) -> State:
        return self.cell.zero_state(x)

    def project_input(self, x: Tensor) -> Tensor:
        return self.cell.project_input(x)

    def step(self, gx: Tensor, state: State) -> tuple[Tensor, State]:
        _, new = self.cell.step(gx, state)
        if self.zoneout is not None:
            new = self.zoneout(state, new)
        out = new if isinstance(new, Tensor) else torch.cat(tuple(new), dim=-1)
        return out, new  # (B, H) or (B, 2H)


def _kind(rnn: nn.RNNBase) -> str:
    """The cell kind of a drop-in or torch recurrent stack; one-line error for the rest."""
    kind = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn"}.get(rnn.mode)
    if kind is None or rnn.bidirectional or rnn.proj_size or getattr(rnn, "cell_factory", None):
        raise ValueError(f"cell activations need a plain unidirectional LSTM/GRU/RNN, got {rnn}")
    return kind


def _layer_cell(rnn: nn.RNNBase, kind: str, layer: int) -> RecurrentCell:
    """rnnkit's cell for ``layer`` of ``rnn`` holding a copy of that layer's weights."""
    D = rnn.input_size if layer == 0 else rnn.hidden_size
    options = {"nonlinearity": rnn.mode[4:].lower()} if kind == "rnn" else {}
    cell = make_cell(kind, D, rnn.hidden_size, bias=rnn.bias, **options)
    cell = cell.to(dtype=rnn.weight_hh_l0.dtype)  # before loading, which copies into this dtype
    weights = layer_weights(rnn, layer)._asdict()  # torch's names, as the cell's
    cell.load_state_dict({name: weights[name] for name in cell.state_dict()})
    return cell


def _gates(cell: RecurrentCell, kind: str, x: Tensor, h_prev: Tensor) -> dict[str, Tensor]:
    """The gates from the cell's equations: x (T, D), h_{t-1} (T, H) -> name -> (T, H)."""
    if kind == "rnn":
        return {}
    pre = cell.project_input(x) + F.linear(h_prev, cell.weight_hh, cell.bias_hh)  # (T, G)
    blocks = pre.chunk(4 if kind == "lstm" else 3, dim=-1)
    return {name: blocks[row].sigmoid() for name, row in zip(GATES[kind], _ROWS[kind], strict=True)}


def _zoneout(rnn: nn.RNNBase) -> Zoneout | None:
    """The drop-in's zoneout (eval form), or None."""
    p_h, p_c = getattr(rnn, "zoneout", (0.0, 0.0))
    return Zoneout(p_h, p_c=p_c).eval() if p_h or p_c else None


def _check_ids(ids: Tensor, vocab_size: int) -> None:
    """One-line errors for a token tensor that is not (T,) integers in [0, V)."""
    if not isinstance(ids, Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
        raise ValueError(f"ids must be a 1-D LongTensor (T,), got {getattr(ids, 'shape', ids)}")
    if ids.numel() == 0:
        raise ValueError("ids must hold at least one token")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(f"ids must be in [0, {vocab_size}), got [{ids.min()}, {ids.max()}]")


@torch.no_grad()
def cell_activations(model: nn.Module, ids: Tensor, state: Any = None) -> CellActivations:
    """h, tanh(c), gates and next-token probabilities of ``model`` (a LanguageModel) on ``ids``.

    Args:
        model: a :class:`rnnkit.tasks.LanguageModel` (read in eval mode; its mode is kept).
        ids: (T,) token ids.
        state: the model's state for a batch of one (torch's layout, as ``model`` returns it),
            or None for zeros.
    """
    rnn, kind = model.rnn, _kind(model.rnn)
    _check_ids(ids, model.proj.out_features)
    was_training = model.training
    model.eval()
    try:
        logits, final = model(ids[None], state)  # the model itself, on its own kernel
        x = model.embedding(ids)[:, None]  # (T, 1, E)
        cells = [_layer_cell(rnn, kind, k) for k in range(rnn.num_layers)]
        starts = split_hidden(state, cells, bidirectional=False) if state is not None else None
        hs, cs, gates = [], [], {name: [] for name in GATES[kind]}
        for k, cell in enumerate(cells):
            start = cell.zero_state(x[0]) if starts is None else starts[k]
            out, _ = Recurrent(_WholeState(cell, _zoneout(rnn)))(x, start)  # (T, 1, H or 2H)
            h = out[..., : rnn.hidden_size]  # (T, 1, H)
            h_prev = torch.cat([state_output(start)[None], h[:-1]])  # (T, 1, H)
            for name, g in _gates(cell, kind, x[:, 0], h_prev[:, 0]).items():
                gates[name].append(g)
            hs.append(h[:, 0])
            cs.append(out[:, 0, rnn.hidden_size :].tanh())
            x = h  # eval: no dropout between layers
    finally:
        model.train(was_training)
    return CellActivations(
        h=torch.stack(hs),
        cell=torch.stack(cs) if kind == "lstm" else None,
        gates={name: torch.stack(g) for name, g in gates.items()},
        next_probs=logits[0].softmax(-1),
        state=final,
    )
