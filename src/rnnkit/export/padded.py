"""A drop-in layer on padded batches as ONNX ``LSTM``/``GRU``/``RNN`` nodes with ``sequence_lens``.

torch's exporter cannot trace a ``PackedSequence`` into ONNX, and a padded batch run without
packing reads its padding. ONNX's own recurrent operators take per-sequence lengths
(``sequence_lens``) and give packing's semantics: outputs zero past each length, the final
state each sequence's own, the backward direction starting at each sequence's last element.
:class:`PaddedRecurrent` runs the layer exactly as rnnkit does in torch (packed), and its
ONNX form is one such node per layer, weights reordered to ONNX's gate order.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.errors import RnnkitError
from rnnkit.layers.torch_layout import layer_weights

#: torch's gate blocks, in the order ONNX's operator wants them (LSTM: iofc, GRU: zrh)
GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN_TANH": (0,), "RNN_RELU": (0,)}


class ExportError(RnnkitError):
    """A model (or an option of it) that has no ONNX form here; the message says why."""


def is_native(layer: nn.Module) -> bool:
    """Whether a drop-in layer runs torch's kernel in eval mode (else rnnkit's generic loop)."""
    return not getattr(layer, "_structural", False) and getattr(layer, "_torch_layout", True)


def check_native(layer: nn.Module, where: str) -> None:
    """Refuse what has no ONNX recurrent node: not a torch-style layer, or projections."""
    if not isinstance(layer, nn.RNNBase) or not is_native(layer):
        raise ExportError(f"{where}: {type(layer).__name__} has no ONNX recurrent operator form")
    if layer.proj_size > 0:
        raise ExportError(f"{where}: proj_size has no ONNX LSTM equivalent")


def _blocks(t: Tensor, mode: str) -> Tensor:
    """Reorder the gate blocks of a (G·H, ...) tensor from torch's order to ONNX's."""
    order = GATE_ORDER[mode]
    return torch.cat([t.chunk(len(order))[i] for i in order])


def _const(g: Any, t: Tensor) -> Any:
    return g.op("Constant", value_t=t.detach().float().contiguous())


def _missing(g: Any) -> Any:
    """An omitted optional ONNX input."""
    node = g.op("prim::Constant")
    node.setType(torch._C.OptionalType.ofTensor())
    return node


def _layer_weights(layer: nn.RNNBase, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """ONNX's W (D, G·H, I), R (D, G·H, H), B (D, 2·G·H) of layer ``k``, all directions."""
    mode, W, R, B = layer.mode, [], [], []
    for d in range(2 if layer.bidirectional else 1):
        w_ih, w_hh, b_ih, b_hh = layer_weights(layer, k, d)
        W.append(_blocks(w_ih, mode))
        R.append(_blocks(w_hh, mode))
        if layer.bias:
            B.append(torch.cat([_blocks(b_ih, mode), _blocks(b_hh, mode)]))
        else:
            B.append(w_ih.new_zeros(2 * w_ih.shape[0]))
    return torch.stack(W), torch.stack(R), torch.stack(B)


def _node(g: Any, layer: nn.RNNBase, k: int, x: Any, lens: Any, h0: Any, c0: Any) -> tuple:
    """One layer's ONNX node: x (T, B, I) -> y (T, D, B, H), h_n (D, B, H) [, c_n]."""
    W, R, B = (_const(g, t) for t in _layer_weights(layer, k))
    D = 2 if layer.bidirectional else 1
    attrs: dict[str, Any] = {"hidden_size_i": layer.hidden_size}
    attrs["direction_s"] = "bidirectional" if D == 2 else "forward"
    state = [_rows(g, s, k * D, (k + 1) * D) for s in (h0, c0) if s is not None]
    if h0 is None:
        state = [_missing(g), _missing(g)] if layer.mode == "LSTM" else [_missing(g)]
    if layer.mode == "LSTM":
        return g.op("LSTM", x, W, R, B, lens, *state, outputs=3, **attrs)
    if layer.mode == "GRU":
        return g.op("GRU", x, W, R, B, lens, *state, outputs=2, linear_before_reset_i=1, **attrs)
    act = "Tanh" if layer.mode == "RNN_TANH" else "Relu"
    return g.op("RNN", x, W, R, B, lens, *state, outputs=2, activations_s=[act] * D, **attrs)


def _rows(g: Any, t: Any, lo: int, hi: int) -> Any:
    """``t[lo:hi]`` along dim 0, as an ONNX Slice."""
    const = lambda v: g.op("Constant", value_t=torch.tensor([v]))  # noqa: E731
    return g.op("Slice", t, const(lo), const(hi), const(0))


#: the layers being exported, by id: an autograd Function cannot take a module argument
_LAYERS: weakref.WeakValueDictionary[int, nn.RNNBase] = weakref.WeakValueDictionary()


class _PaddedRNN(torch.autograd.Function):
    """torch: the layer run packed; ONNX: one recurrent node per layer with sequence_lens."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lengths: Tensor, h0: Any, c0: Any, key: int) -> Any:
        layer = _LAYERS[key]
        hx = None if h0 is None else (h0 if c0 is None else (h0, c0))
        tracing = torch._C._get_tracing_state()
        torch._C._set_tracing_state(None)  # the packed run is torch's reference, not the graph
        try:
            out, hidden = _run_packed(layer, x, lengths, hx)
        finally:
            torch._C._set_tracing_state(tracing)
        return (out, *hidden) if isinstance(hidden, tuple) else (out, hidden)

    @staticmethod
    def symbolic(g: Any, x: Any, lengths: Any, h0: Any, c0: Any, key: int) -> Any:
        layer = _LAYERS[key]
        lens = g.op("Cast", lengths, to_i=6)  # int32, as ONNX wants
        y = g.op("Transpose", x, perm_i=[1, 0, 2]) if layer.batch_first else x  # (T, B, I)
        hs, cs = [], []
        for k in range(layer.num_layers):
            y, *final = _node(g, layer, k, y, lens, h0, c0)  # y: (T, D, B, H)
            y = g.op("Transpose", y, perm_i=[0, 2, 1, 3])  # (T, B, D, H)
            y = g.op("Reshape", y, g.op("Constant", value_t=torch.tensor([0, 0, -1])))
            hs.append(final[0])
            cs.extend(final[1:])
        if layer.batch_first:
            y = g.op("Transpose", y, perm_i=[1, 0, 2])
        join = lambda parts: parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis_i=0)  # noqa: E731
        return (y, join(hs), join(cs)) if cs else (y, join(hs))


def _run_packed(layer: nn.RNNBase, x: Tensor, lengths: Tensor, hx: Any) -> tuple[Tensor, Any]:
    """The layer on the packed batch, padded back: torch's reference for the ONNX node."""
    packed = pack_padded_sequence(x, lengths.cpu(), layer.batch_first, enforce_sorted=False)
    out, hidden = layer(packed, hx)
    out, _ = pad_packed_sequence(
        out, layer.batch_first, total_length=x.shape[int(layer.batch_first)]
    )
    return out, hidden


class PaddedRecurrent(nn.Module):
    """A native drop-in layer, ``forward(x, hx=None, *, lengths)`` as the layer's own.

    Swapped in for a task model's layer while exporting: the same results in torch, and
    ONNX recurrent nodes with ``sequence_lens`` in the exported graph.
    """

    def __init__(self, layer: nn.RNNBase, where: str) -> None:
        super().__init__()
        check_native(layer, where)
        self.layer = layer
        _LAYERS[id(layer)] = layer

    def forward(self, x: Tensor, hx: Any = None, *, lengths: Tensor) -> tuple[Tensor, Any]:
        h0, c0 = hx if isinstance(hx, tuple) else (hx, None)
        out, *hidden = _PaddedRNN.apply(x, lengths, h0, c0, id(self.layer))
        return out, tuple(hidden) if len(hidden) == 2 else hidden[0]
