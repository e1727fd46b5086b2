"""The rows of the benchmark: which model, and how many GEMM FLOPs a forward pass costs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.peephole_lstm import PeepholeLSTMCell
from rnnkit.layers import GRU, LSTM, RNN


@dataclass(frozen=True)
class Config:
    """One problem size: batch B, steps T, input D, hidden H."""

    name: str
    B: int
    T: int
    D: int
    H: int

    def __str__(self) -> str:
        return f"{self.name} (B={self.B}, T={self.T}, D={self.D}, H={self.H})"


CONFIGS = [
    Config("C1", 32, 100, 128, 256),
    Config("C2", 64, 200, 256, 512),
    Config("C3", 1, 500, 64, 128),
]

#: Gate blocks per family: the recurrent GEMMs produce G = gates * H columns.
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def gemm_flops(cfg: Config, family: str, train: bool) -> float:
    """Matrix-product FLOPs: forward 2·T·B·G·(D + H); training (forward + backward) 3x that."""
    G = GATES[family] * cfg.H
    forward = 2.0 * cfg.T * cfg.B * G * (cfg.D + cfg.H)
    return 3 * forward if train else forward


class NaiveLSTM(nn.Module):
    """The textbook reference: ``torch.nn.LSTMCell`` called in a Python loop."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(input_size, hidden_size)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h = c = x.new_zeros(x.shape[1], self.cell.hidden_size)
        outputs = []
        for x_t in x:
            h, c = self.cell(x_t, (h, c))
            outputs.append(h)
        return torch.stack(outputs), (h, c)


@dataclass(frozen=True)
class Row:
    """A benchmark row: a label, a model factory ``(D, H) -> module`` and its FLOP family."""

    label: str
    make: Callable[[int, int], nn.Module]
    family: str
    vs_gru: bool = False  # also report the ratio to torch.nn.GRU
    path: str = "fused"  # or torch_ops / step_loop (timing.PATHS)


ROWS = [
    Row("torch.nn.LSTM (reference)", nn.LSTM, "lstm"),
    Row("torch.nn.GRU (reference)", nn.GRU, "gru", vs_gru=True),
    Row("nn.LSTMCell Python loop (naive)", NaiveLSTM, "lstm"),
    Row("rnnkit.LSTM", LSTM, "lstm"),
    Row("rnnkit.GRU(fused=True) (reset after)", functools.partial(GRU, fused=True), "gru", True),
    Row(
        "rnnkit.GRU (reset before)",
        functools.partial(GRU, cell=functools.partial(GRUCell, reset_after=False)),
        "gru",
        vs_gru=True,
    ),
    Row("LayerNorm-LSTM", functools.partial(LSTM, cell=LayerNormLSTMCell), "lstm"),
    Row("LSTM + zoneout 0.1", functools.partial(LSTM, zoneout=0.1), "lstm"),
    Row("LSTM + recurrent dropout 0.25", functools.partial(LSTM, recurrent_dropout=0.25), "lstm"),
    Row("LSTM + weight drop 0.5", functools.partial(LSTM, weight_drop=0.5), "lstm"),
    Row("peephole LSTM", functools.partial(LSTM, cell=PeepholeLSTMCell), "lstm"),
    Row("SimpleRNN (rnnkit.RNN, tanh)", RNN, "rnn"),
    Row(
        "rnnkit.GRU(fused=True) (reset after), torch-op loop",
        functools.partial(GRU, fused=True),
        "gru",
        vs_gru=True,
        path="torch_ops",
    ),
    Row(
        "LayerNorm-LSTM, torch-op loop",
        functools.partial(LSTM, cell=LayerNormLSTMCell),
        "lstm",
        path="torch_ops",
    ),
    Row(
        "LayerNorm-LSTM, step loop",
        functools.partial(LSTM, cell=LayerNormLSTMCell),
        "lstm",
        path="step_loop",
    ),
    Row(
        "LSTM + zoneout 0.1, step loop",
        functools.partial(LSTM, zoneout=0.1),
        "lstm",
        path="step_loop",
    ),
]
