"""Encoder–decoder models as two files: the encoder, and one decoder step.

The encoder maps the input to the decoder's first state; the decoder step maps ``tokens (B,)``
and that state to ``log_probs (B, V)`` and the next state, so greedy search, sampling or beam
search can run in any runtime. The state travels as named tensors, one per field of
:class:`~rnnkit.tasks.seq2seq.DecoderState` (``cell.inner.h``, ``cell.values``, ...): the
encoder outputs all of them, the decoder step takes all of them and outputs the ones a step
changes, each as ``next.<name>``.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch
from torch import Tensor, nn

from rnnkit.export.graph import FlatState, Graph, with_padded_layers

EXAMPLE_S = 11  # example source length: dims of this size (or S + 1) are named dynamic


class Encoder(nn.Module):
    """``inputs`` -> the decoder's first state, flattened (``model.start`` on a batch)."""

    def __init__(self, model: nn.Module, fields: tuple[str, ...], flat: FlatState) -> None:
        super().__init__()
        self.model, self.fields, self.flat = model, fields, flat

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        batch = SimpleNamespace(**dict(zip(self.fields, inputs, strict=True)))
        return tuple(self.flat.flatten(self.model.start(batch)))


class DecoderStep(nn.Module):
    """``(tokens (B,), *state)`` -> ``(log_probs (B, V), *changed state)``: ``decode_step``."""

    def __init__(self, model: nn.Module, flat: FlatState, changed: list[int]) -> None:
        super().__init__()
        self.model, self.flat, self.changed = model, flat, changed

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        log_probs, new = self.model.decode_step(tokens, self.flat.unflatten(list(state)))
        leaves = self.flat.flatten(new)
        return (log_probs, *[leaves[i] for i in self.changed])


def _axes(t: Tensor) -> dict[int, str]:
    """Dim 0 is the batch; a later dim of the example source length (or one more) is S."""
    axes = {0: "B"}
    for d in range(1, t.dim()):
        if t.shape[d] in (EXAMPLE_S, EXAMPLE_S + 1):
            axes[d] = "S" if t.shape[d] == EXAMPLE_S else "S1"
    return axes


def encoder_decoder_graphs(
    model: nn.Module, fields: tuple[str, ...], example: tuple[Tensor, ...],
    dynamic: dict[str, dict[int, str]], padded: list[str],
) -> list[Graph]:  # fmt: skip
    """The encoder and decoder-step graphs of a :class:`~rnnkit.tasks.seq2seq.GeneratorMixin`."""
    model = with_padded_layers(model, padded) if padded else copy.deepcopy(model).eval()
    with torch.no_grad():
        state = model.start(SimpleNamespace(**dict(zip(fields, example, strict=True))))
        flat = FlatState(state)
        before = flat.flatten(state)
        tokens = torch.full((example[0].shape[0],), model.bos, dtype=torch.long)
        after = flat.flatten(model.decode_step(tokens, state)[1])
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]
    outs = [f"next.{flat.names[i]}" for i in changed]
    state_axes = {n: _axes(t) for n, t in zip(flat.names, before, strict=True)}
    step_axes = {"tokens": {0: "B"}, "log_probs": {0: "B"}, **state_axes}
    step_axes.update({f"next.{flat.names[i]}": _axes(before[i]) for i in changed})
    if model.pointing:
        step_axes["log_probs"] = {0: "B", 1: "S1"}
    return [
        Graph(
            Encoder(model, fields, flat),
            example,
            list(fields),
            flat.names,
            {**dynamic, **state_axes},
            "encoder",
        ),
        Graph(
            DecoderStep(model, flat, changed),
            (tokens, *before),
            ["tokens", *flat.names],
            ["log_probs", *outs],
            step_axes,
            "decoder",
        ),
    ]


def seq2seq_graphs(model: nn.Module) -> list[Graph]:
    """Encoder: ``source (B, S)`` 0-padded, ``source_lengths (B,)``; decoder step as above."""
    source = torch.full((2, EXAMPLE_S), 4, dtype=torch.long)
    lengths = torch.tensor([EXAMPLE_S, 6])
    source[1, 6:] = 0
    dynamic = {"source": {0: "B", 1: "S"}, "source_lengths": {0: "B"}}
    return encoder_decoder_graphs(
        model, ("source", "source_lengths"), (source, lengths), dynamic, ["rnn"]
    )


def context_graphs(model: nn.Module) -> list[Graph]:
    """Encoder: ``images (B, 1, H, W)``, ``widths (B,)`` digit slots; decoder step as above."""
    config = model.config
    images = torch.zeros(2, 1, config.image_height, config.image_width)
    widths = torch.tensor([config.image_width // 8, 1])
    dynamic = {"images": {0: "B"}, "widths": {0: "B"}}
    return encoder_decoder_graphs(model, ("images", "widths"), (images, widths), dynamic, [])
