"""Gradient checkpointing over time: keep the state every K steps, recompute the rest.

Full backpropagation through time keeps every step's activations, O(T). Cutting the
sequence into segments of K steps and keeping only the state at each boundary (plus one
segment's activations while it is recomputed in the backward pass) needs
O(T/K + K) memory, minimal at K ≈ √T, for about one extra forward pass of time.
Each segment runs under ``torch.utils.checkpoint(..., use_reentrant=False)``.

Two details make the recomputation exact:

- the module's tensors (parameters and buffers) are captured when the forward runs and put
  back for the recomputation, so weights substituted only during the forward (weight drop,
  ``torch.func.functional_call`` in the drop-ins) are the ones differentiated;
- the first segment is not checkpointed: it draws the per-sequence dropout masks, and
  recomputing it would draw the per-step zoneout masks from a shifted random stream (the
  RNG state is restored for every recomputed segment, and the later segments draw only
  per-step masks). Memory is still O(K + T/K).

Modules whose forward updates buffers (batch-norm running statistics) update them again
during the recomputation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from rnnkit.cells.state import State

Segment = Callable[[Tensor, State, Tensor | None], tuple[Tensor, State]]


def check_checkpoint_every(value: int | None) -> int | None:
    """Validate ``checkpoint_every``: None (off) or a positive integer K."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"checkpoint_every must be a positive integer or None, got {value!r}")
    return value


@contextmanager
def _substituted(module: nn.Module, tensors: dict[str, Tensor]) -> Iterator[None]:
    """Within the block, ``module``'s parameters and buffers are the given tensors."""
    saved = []
    for name, tensor in tensors.items():
        prefix, _, leaf = name.rpartition(".")
        owner = module.get_submodule(prefix)
        table = owner._parameters if leaf in owner._parameters else owner._buffers
        saved.append((table, leaf, table[leaf]))
        table[leaf] = tensor
    try:
        yield
    finally:
        for table, leaf, old in reversed(saved):
            table[leaf] = old


def checkpointed_unroll(
    segment: Segment,
    x: Tensor,
    state: State,
    lengths: Tensor | None,
    every: int,
    module: nn.Module,
) -> tuple[Tensor, State]:
    """``segment`` over consecutive chunks of ``every`` steps, each but the first checkpointed.

    Args:
        segment: ``(x (K, B, ...), state, lengths or None) -> (output (K, B, H), state)``;
            ``lengths`` are relative to the chunk (clamped to [0, K]).
        x: the time-major input (T, B, ...).
        state: the initial state.
        lengths: (B,) lengths of the whole sequence, or None.
        every: K, steps per segment.
        module: whose tensors ``segment`` reads (captured now, restored for recomputation).

    Returns:
        The concatenated output (T, B, H) and the final state.
    """
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())

    def recompute(x_seg: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        with _substituted(module, tensors):
            return segment(x_seg, state, lengths)

    outputs = []
    for start in range(0, x.shape[0], every):
        x_seg = x[start : start + every]
        rel = None if lengths is None else (lengths - start).clamp(0, x_seg.shape[0])
        if start == 0:
            out, state = segment(x_seg, state, rel)
        else:
            out, state = checkpoint(recompute, x_seg, state, rel, use_reentrant=False)
        outputs.append(out)
    return torch.cat(outputs), state
