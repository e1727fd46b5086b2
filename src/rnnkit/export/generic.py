"""rnnkit's generic path on padded batches as an ONNX ``Loop`` over the time steps.

A drop-in with another cell (LayerNorm-LSTM, peephole LSTM), zoneout or residual connections
runs rnnkit's own stack: :class:`~rnnkit.layers.Stacked` of :class:`~rnnkit.layers.Recurrent`
(or :class:`~rnnkit.layers.Bidirectional`) layers. Tracing it would unroll the time loop to the
example's length. While exporting, each ``Recurrent``'s loop (``_unroll``) is replaced by a
scripted function (:func:`loop_one`, :func:`loop_two`): a TorchScript ``for`` over the steps (an
ONNX ``Loop`` with a dynamic trip count) around one traced step of that layer (the cell's
``step``, eval-mode zoneout, and the length mask that freezes finished sequences). Everything
else (input projection, reversal within each length, merging, residuals) is rnnkit's own code,
traced as it runs; ``Recurrent._segment`` is swapped too, for a reshape that keeps T dynamic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.state import state_output
from rnnkit.export.padded import ExportError
from rnnkit.layers.lengths import valid_mask
from rnnkit.layers.recurrent import Recurrent

#: id of a Recurrent being exported -> its scripted loop
_LOOPS: dict[int, Any] = {}
_ORIGINAL_UNROLL = Recurrent._unroll


class CellStep(nn.Module):
    """One masked step of a layer: ``(gx_t (B, G), keep (B,), *fields) -> (h, *fields)``."""

    def __init__(self, recurrent: Recurrent, example: Any) -> None:
        super().__init__()
        self.recurrent = recurrent
        self.kind = None if isinstance(example, Tensor) else type(example)

    def forward(self, gx: Tensor, keep: Tensor, *fields: Tensor) -> tuple[Tensor, ...]:
        prev = fields[0] if self.kind is None else self.kind(*fields)
        h, state = self.recurrent.cell.step(gx, prev)
        if self.recurrent.zoneout is not None:  # eval mode: p·old + (1 - p)·new
            state = self.recurrent.zoneout(prev, state)
            h = state_output(state)
        new = [state] if self.kind is None else list(state)
        old = [prev] if self.kind is None else list(prev)
        mask = keep[:, None]  # finished sequences keep their state
        return (h, *[torch.where(mask, n, o) for n, o in zip(new, old, strict=True)])


def loop_one(step: Any) -> Any:
    """The time loop around a traced step whose state is one tensor (GRU, RNN cells)."""

    def loop(gx: Tensor, valid: Tensor, steps: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        outputs = []
        for t in range(int(steps)):
            out, h = step(gx[t], valid[t], h)
            outputs.append(out)
        return torch.stack(outputs), h

    return torch.jit.script(loop)


def loop_two(step: Any) -> Any:
    """The time loop around a traced step whose state is (h, c) (the LSTM family)."""

    def loop(
        gx: Tensor, valid: Tensor, steps: Tensor, h: Tensor, c: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        outputs = []
        for t in range(int(steps)):
            out, h, c = step(gx[t], valid[t], h, c)
            outputs.append(out)
        return torch.stack(outputs), h, c

    return torch.jit.script(loop)


def script_loop(recurrent: Recurrent, input_size: int) -> Any:
    """Trace one step of ``recurrent`` (its cell holding its tensors) and script the loop.

    The traced step is a function, its weights constants: torch's ONNX exporter follows a
    scripted function called from traced code, but not a scripted module.
    """
    cell = recurrent.cell
    x = torch.zeros(2, input_size)
    gx = cell.project_input(x)
    state = cell.zero_state(x)
    fields = [state] if isinstance(state, Tensor) else list(state)
    if len(fields) not in (1, 2):
        raise ExportError(
            f"{type(cell).__name__}: a state of {len(fields)} tensors has no ONNX loop here"
        )
    keep = torch.ones(2, dtype=torch.bool)
    one_step = CellStep(recurrent, state).eval()
    step = torch.jit.trace(lambda *a: one_step(*a), (gx, keep, *fields), check_trace=False)
    return (loop_one if len(fields) == 1 else loop_two)(step)


def scripted_unroll(
    self: Recurrent, gx: Tensor, state: Any, lengths: Tensor | None
) -> tuple[Tensor, Any]:
    """``Recurrent._unroll`` through the layer's scripted loop (always masked by ``lengths``)."""
    loop = _LOOPS.get(id(self))
    if loop is None:  # not prepared (a language model's step): the plain loop, one step
        return _ORIGINAL_UNROLL(self, gx, state, lengths)
    T, B = gx.shape[:2]
    valid = valid_mask(lengths, T) if lengths is not None else gx.new_ones(T, B, dtype=torch.bool)
    fields = [state] if isinstance(state, Tensor) else list(state)
    steps = torch._shape_as_tensor(gx)[0]  # a graph value: the exporter folds sizes in a script
    output, *final = loop(gx, valid, steps, *fields)
    return output, final[0] if isinstance(state, Tensor) else type(state)(*final)


def traceable_segment(self: Recurrent, x: Tensor, state: Any, lengths: Tensor | None) -> tuple:
    """``Recurrent._segment``, reshaped so T stays dynamic (``unflatten`` exports it fixed)."""
    if self.input_dropout is not None:
        x = self.input_dropout(x, time_dim=0)
    gx = self.cell.project_input(x.flatten(0, 1))  # (T·B, G)
    return self._unroll(gx.reshape(x.shape[0], x.shape[1], -1), state, lengths)  # (T, B, G)


def fill_template(layer: nn.Module) -> None:
    """Put a generic drop-in's tensors into its template cells for good (an export copy only)."""
    for path, own in layer._tensor_map:
        owner, _, leaf = path.rpartition(".")
        module = layer._template.get_submodule(owner)
        table = module._parameters if leaf in module._parameters else module._buffers
        table[leaf] = getattr(layer, own).detach()  # a traced step keeps them as constants


def prepare_generic(layer: nn.Module) -> None:
    """Script the loop of every ``Recurrent`` in a generic drop-in (a copy made for export)."""
    fill_template(layer)
    recurrents = [m for m in layer._template.modules() if isinstance(m, Recurrent)]
    with torch.no_grad():
        for module in recurrents:
            _LOOPS[id(module)] = script_loop(module, module.cell.input_size)


def clear_loops() -> None:
    """Forget the prepared loops (they hold a copy of the weights as constants)."""
    _LOOPS.clear()


@contextmanager
def scripted_loops() -> Iterator[None]:
    """Within: every prepared ``Recurrent`` runs its scripted loop."""
    original = Recurrent._unroll, Recurrent._segment
    Recurrent._unroll, Recurrent._segment = scripted_unroll, traceable_segment
    try:
        yield
    finally:
        Recurrent._unroll, Recurrent._segment = original
