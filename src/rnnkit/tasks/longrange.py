"""One recurrent cell on a long-range benchmark: inputs -> ``Recurrent(cell)`` -> a linear head.

``forward(x) -> outputs``; x is (B, T, D) floats, or (B, T) token ids (the copy task, read
one-hot). The head reads the cell's outputs o_t (B, T, H):

==========  ============================  ====================================  =============
task        head                          loss                                  metrics
==========  ============================  ====================================  =============
adding      o_T -> 1 value (B,)           MSE                                   mse
copy        o_t -> V classes (B, T, V)    cross-entropy per step (nats)         cross_entropy,
                                                                                accuracy
digits      o_T -> 10 classes (B, 10)     cross-entropy                         accuracy, loss
ntm-copy    o_t -> bits logits, at the    binary cross-entropy per bit (nats)   bce, bit_error
            output steps (B, L, bits)
==========  ============================  ====================================  =============

The copy task's ``accuracy`` counts only the L copied symbols (the steps whose target is not
blank); ``bit_error`` is the share of output bits on the wrong side of 1/2. The cells:
``tanh`` (Elman), ``irnn`` (ReLU, identity init: Le, Jaitly & Hinton 2015), ``lstm``, ``gru``
(fused fast path inside :class:`~rnnkit.layers.Recurrent`) and ``ntm`` (an LSTM-controlled
Neural Turing Machine, Graves et al. 2014, whose head reads [h_t; r_t]: :class:`ReadOut`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.cells import NTMCell, RecurrentCell
from rnnkit.cells.ntm import NTMState
from rnnkit.data.synthetic_batches import SequenceBatch
from rnnkit.layers import stacks
from rnnkit.layers.recurrent import Recurrent
from rnnkit.options import option
from rnnkit.tasks.pretrained import Pretrained

FORMAT = "rnnkit.long_range/1"
TASKS = ("adding", "copy", "digits", "ntm-copy")
CELLS = ("tanh", "irnn", "lstm", "gru", "ntm")  # rows of rnnkit.layers.stacks.CELLS
#: task -> what ``evaluate`` measures; the first picks the best model
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "adding": ("mse",),
    "copy": ("cross_entropy", "accuracy"),
    "digits": ("accuracy", "loss"),
    "ntm-copy": ("bce", "bit_error"),
}
#: cells that run only on some tasks
CELL_TASKS = {"ntm": ("ntm-copy",)}
LAST_STEP_TASKS = ("adding", "digits")  # the head reads o_T only
BLANK = 0  # the copy task's blank token (rnnkit.data.longrange.BLANK)


def check_cell_task(cell: str, task: str) -> None:
    """Refuse a cell on a task it is not wired for (``ntm`` runs only ``ntm-copy``)."""
    allowed = CELL_TASKS.get(cell)
    if allowed is not None and task not in allowed:
        raise ValueError(
            f"cell {cell!r} runs only on the {' or '.join(allowed)} task, got task {task!r}"
        )


def check_last_step_task(task: str) -> None:
    """Refuse a task whose loss is not read at the last step (only adding and digits are)."""
    if task not in LAST_STEP_TASKS:
        raise ValueError(f"the {task} task's loss is not read at the last step; only "
                         f"{' and '.join(LAST_STEP_TASKS)}'s is")  # fmt: skip


@dataclass(frozen=True)
class LongRangeConfig:
    """Architecture of a :class:`LongRangeModel`."""

    task: str  # set by the job: one of TASKS
    input_size: int  # set by the job: D features per step (copy: the vocabulary, read one-hot)
    output_size: int  # set by the job: 1 (adding), classes (copy, digits), bits (ntm-copy)
    cell: str = option("lstm", "recurrent cell (irnn: ReLU, identity init)", choices=CELLS)
    hidden_size: int = option(128, "recurrent units (ntm: controller units)", low=1, high=65536)
    memory_slots: int = option(128, "ntm: memory rows N", low=3, high=65536)
    memory_width: int = option(20, "ntm: features per memory row M", low=1, high=65536)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        check_cell_task(self.cell, self.task)
        for name in ("input_size", "output_size", "hidden_size", "memory_slots", "memory_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")


def make_cell(config: LongRangeConfig) -> RecurrentCell:
    """The cell named by ``config.cell``, (D) -> (H); the NTM's output also carries its read."""
    D, H = config.input_size, config.hidden_size
    if config.cell != "ntm":
        return stacks.make_cell(config.cell, D, H)
    memory = {"memory_slots": config.memory_slots, "memory_width": config.memory_width}
    return ReadOut(stacks.make_cell("ntm", D, H, **memory))


class ReadOut(RecurrentCell):
    """An NTM whose output is o_t = [h_t; r_t] (B, H + M): the head also sees this step's read.

    Through h_t alone the read r_t would reach the head a step late, via the controller; the
    output layer reads both, as in Collier & Beel (2018) and the DNC (Graves et al. 2016,
    y_t = W [h_t; r_t]). The state is the NTM's, so ``Recurrent`` must not apply zoneout or
    state dropout to it (the long-range model uses neither).
    """

    def __init__(self, ntm: NTMCell) -> None:
        super().__init__(ntm.input_size, ntm.hidden_size + ntm.memory_width)
        self.ntm = ntm

    def initial_state(self, batch_size: int, **kwargs: Any) -> NTMState:
        return self.ntm.initial_state(batch_size, **kwargs)

    def step(self, gx: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        h, state = self.ntm.step(gx, state)  # h_t (B, H)
        return torch.cat([h, state.read], dim=-1), state  # [h_t; r_t] (B, H + M)


class LongRangeModel(Pretrained):
    """A cell and a linear head on one long-range task; see the module docstring."""

    FORMAT, KIND = FORMAT, "long-range"
    CONFIG = LongRangeConfig

    def __init__(self, config: LongRangeConfig) -> None:
        super().__init__()
        self.config = config
        self.METRICS = TASK_METRICS[config.task]  # per task; the Trainer reads the instance's
        self.rnn = Recurrent(make_cell(config), batch_first=True)
        self.head = nn.Linear(self.rnn.cell.hidden_size, config.output_size)  # ntm: H + M

    @property
    def cell(self) -> RecurrentCell:
        return self.rnn.cell

    def features(self, x: Tensor) -> Tensor:
        """Inputs as floats: (B, T, D) unchanged, or (B, T) ids -> (B, T, V) one-hot."""
        if self.config.task == "copy":
            return F.one_hot(x, self.config.input_size).float()
        return x

    def readout(self, outputs: Tensor) -> Tensor:
        """Cell outputs (B, T, H) -> (B,) (adding), (B, 10) (digits), (B, T, V or bits)."""
        if self.config.task in LAST_STEP_TASKS:
            outputs = outputs[:, -1]  # o_T (B, H)
        out = self.head(outputs)
        return out.squeeze(-1) if self.config.task == "adding" else out

    def forward(self, x: Tensor) -> Tensor:
        outputs, _ = self.rnn(self.features(x))  # (B, T, H)
        return self.readout(outputs)

    def last_step_losses(self, h: Tensor, y: Tensor) -> Tensor:
        """Per-sequence losses L_T (B,) read from the last output h_T (B, H): adding, digits."""
        check_last_step_task(self.config.task)
        out = self.readout(h.unsqueeze(1))  # (B,) or (B, 10)
        if self.config.task == "adding":
            return (out - y) ** 2
        return F.cross_entropy(out, y, reduction="none")

    # -- the Trainer's contract -------------------------------------------------------

    def loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Any]]:
        """The task's mean loss on a batch (see the module docstring)."""
        out = self(batch.x)
        task = self.config.task
        if task == "adding":
            loss = F.mse_loss(out, batch.y)
        elif task == "copy":
            loss = F.cross_entropy(out.flatten(0, 1), batch.y.flatten())
        elif task == "digits":
            loss = F.cross_entropy(out, batch.y)
        else:
            loss = F.binary_cross_entropy_with_logits(out[:, batch.mask], batch.y)
        return loss, {"tokens": batch.x.shape[0] * batch.x.shape[1]}

    def evaluate(self, batches: Iterable[SequenceBatch]) -> dict[str, float]:
        """The task's metrics (``METRICS``) over all batches, each averaged over its units."""
        totals: dict[str, list[float]] = {}
        for batch in batches:
            for name, (total, count) in self.tally(self(batch.x), batch).items():
                entry = totals.setdefault(name, [0.0, 0])
                entry[0] += total
                entry[1] += count
        return {name: totals[name][0] / max(totals[name][1], 1) for name in self.METRICS}

    def tally(self, out: Tensor, batch: SequenceBatch) -> dict[str, tuple[float, int]]:
        """Metric name -> (sum over the batch's units, number of units)."""
        y, task = batch.y, self.config.task
        if task == "adding":
            return {"mse": (F.mse_loss(out, y, reduction="sum").item(), y.numel())}
        if task == "digits":
            ce = F.cross_entropy(out, y, reduction="sum").item()
            return {"loss": (ce, y.numel()), "accuracy": (float((out.argmax(-1) == y).sum()),
                                                          y.numel())}  # fmt: skip
        if task == "copy":
            ce = F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="sum").item()
            copied = y != BLANK  # (B, T): the L steps that write a symbol
            right = float(((out.argmax(-1) == y) & copied).sum())
            return {"cross_entropy": (ce, y.numel()), "accuracy": (right, int(copied.sum()))}
        logits = out[:, batch.mask]  # (B, L, bits)
        bce = F.binary_cross_entropy_with_logits(logits, y, reduction="sum").item()
        wrong = float(((logits > 0).float() != y).sum())
        return {"bce": (bce, y.numel()), "bit_error": (wrong, y.numel())}

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Predictions: sums (B,) (adding), classes (B,) or (B, T), bits (B, T, bits) in {0, 1}."""
        out = self(x)
        if self.config.task == "adding":
            return out
        if self.config.task == "ntm-copy":
            return (out > 0).float()
        return out.argmax(-1)

    # -- checkpoints ----------------------------------------------------------------

    @classmethod
    def from_checkpoint_config(cls, raw: dict[str, Any]) -> LongRangeModel:
        return cls(LongRangeConfig(**raw["model"]))
