"""Sequence lengths: validation, masks, reversal within length, packing, last outputs.

Layers compute time-major, (T, B, ...). A sequence b is valid at steps t < lengths[b];
past its length its state is frozen and its output is zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

Lengths = Tensor | Sequence[int]


def check_lengths(lengths: Lengths | None, T: int, B: int, device: torch.device) -> Tensor | None:
    """``lengths`` as a (B,) int64 tensor on ``device`` (None stays None).

    Values must be in [0, T]; they are checked when ``lengths`` is on the CPU (a list, or
    a CPU tensor). Lengths already on an accelerator are trusted, to avoid a sync.
    """
    if lengths is None:
        return None
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.shape != (B,) or lengths.dtype.is_floating_point or lengths.is_complex():
        raise ValueError(
            f"lengths must be {B} integers (one per sequence), got {lengths.dtype} of shape "
            f"{tuple(lengths.shape)}"
        )
    if lengths.device.type == "cpu" and bool(((lengths < 0) | (lengths > T)).any()):
        raise ValueError(f"lengths must be in [0, {T}] (T = {T} steps), got {lengths.tolist()}")
    return lengths.to(device=device, dtype=torch.long)


def valid_mask(lengths: Tensor, T: int) -> Tensor:
    """(B,) lengths -> (T, B) bool, True where step t < lengths[b]."""
    return torch.arange(T, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


def broadcast_mask(valid: Tensor, ndim: int) -> Tensor:
    """(..., B) bool -> (..., B, 1, ..., 1) so that it broadcasts over a field of ``ndim`` dims."""
    return valid.reshape(*valid.shape, *([1] * (ndim - 1)))


def zero_padding(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Zero the steps of time-major ``x`` (T, B, ...) past each sequence's length."""
    if lengths is None:
        return x
    valid = broadcast_mask(valid_mask(lengths, x.shape[0]), x.dim() - 1)  # (T, B, 1...)
    return torch.where(valid, x, torch.zeros((), dtype=x.dtype, device=x.device))


def reverse_within(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse time-major ``x`` (T, B, ...) within each sequence's length; padding stays put.

    Step t of sequence b goes to ``lengths[b] - 1 - t`` for t < lengths[b]. The map is its
    own inverse, so the same call undoes it.
    """
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[:2]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    ends = lengths.unsqueeze(0)  # (1, B)
    index = torch.where(t < ends, ends - 1 - t, t)  # (T, B)
    return x[index, torch.arange(B, device=x.device).unsqueeze(0)]  # (T, B, ...)


def last_outputs(output: Tensor, lengths: Lengths | None, *, batch_first: bool = False) -> Tensor:
    """Each sequence's output at its last valid step: (T, B, ...) -> (B, ...).

    Args:
        output: a layer's padded output, (T, B, ...) or (B, T, ...) with ``batch_first``.
        lengths: (B,) lengths (>= 1) on any device, or None for the last step of all.
        batch_first: the layout of ``output``.

    For a bidirectional output this is the forward direction's summary; the backward
    direction summarises the whole sequence at step 0.
    """
    if batch_first:
        output = output.transpose(0, 1)
    T, B = output.shape[:2]
    if lengths is None:
        return output[-1]
    lengths = check_lengths(lengths, T, B, output.device)
    return output[lengths - 1, torch.arange(B, device=output.device)]


def unpack(packed: PackedSequence) -> tuple[Tensor, Tensor]:
    """PackedSequence -> padded time-major (T, B, ...) in the original batch order, lengths."""
    padded, lengths = pad_packed_sequence(packed)
    return padded, lengths


def repack(output: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack time-major ``output`` (original batch order) exactly like the input ``like``.

    The result has ``like``'s ``batch_sizes``, ``sorted_indices`` and ``unsorted_indices``,
    as torch's RNNs return.
    """
    lengths = lengths.cpu()
    if like.sorted_indices is not None:
        output = output.index_select(1, like.sorted_indices)
        lengths = lengths[like.sorted_indices.cpu()]
    data = pack_padded_sequence(output, lengths, enforce_sorted=True).data
    return like._replace(data=data)


def run_packed(
    forward: Callable[..., tuple[Tensor, object]],
    packed: PackedSequence,
    state: object,
    *,
    batch_first: bool,
) -> tuple[PackedSequence, object]:
    """Run ``forward(x, state, lengths=...)`` of a layer on a PackedSequence; repack the output."""
    x, lengths = unpack(packed)  # (T, B, ...)
    if batch_first:
        x = x.transpose(0, 1)
    output, state = forward(x, state, lengths=lengths)
    if batch_first:
        output = output.transpose(0, 1)
    return repack(output, lengths, packed), state
