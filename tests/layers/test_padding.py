"""Every cell in rnnkit.cells: a padded batch gives each sequence what it gets alone."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import rnnkit.cells
from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import State
from rnnkit.layers import Bidirectional, Recurrent

D, H, T = 3, 4, 5
LENGTHS = [5, 2, 4]
SPATIAL = (3, 4)


def all_cell_classes() -> list[type[RecurrentCell]]:
    """Every recurrent cell the package exports (the public zoo, abstract bases excluded)."""
    exported = (getattr(rnnkit.cells, name) for name in rnnkit.cells.__all__)
    cells = {
        c.__name__: c for c in exported if isinstance(c, type) and issubclass(c, RecurrentCell)
    }
    cells.pop("RecurrentCell")
    # built from a cell, a scorer and a memory; padding: tests/cells/test_attention_decoder.py
    cells.pop("AttentionDecoderCell")
    return [cells[name] for name in sorted(cells)]


def is_conv(cls: type) -> bool:
    return cls.__name__.startswith("Conv")


def make_input(cls: type, B: int) -> torch.Tensor:
    """(T, B, ...) input: spatial for conv cells, with a timestamp column for Phased LSTM."""
    if is_conv(cls):
        return torch.randn(T, B, D, *SPATIAL, dtype=torch.float64)
    x = torch.randn(T, B, D, dtype=torch.float64)
    if cls.__name__.startswith("Phased"):
        times = torch.rand(T, B, 1, dtype=torch.float64).mul(3).cumsum(0)  # increasing
        x = torch.cat([x, times], dim=-1)
    return x


def noisy_padding(x: torch.Tensor) -> torch.Tensor:
    """Large random values past each length: a leak would show."""
    x = x.clone()
    for b, n in enumerate(LENGTHS):
        x[n:, b] = 50 * torch.randn_like(x[n:, b])
    return x


def fields(state: State) -> list[torch.Tensor]:
    return [state] if isinstance(state, torch.Tensor) else list(state)


CELLS = all_cell_classes()


def test_the_zoo_is_found():
    names = {cls.__name__ for cls in CELLS}
    assert {"LSTMCell", "GRUCell", "SimpleRNNCell"} <= names


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cls", CELLS, ids=[cls.__name__ for cls in CELLS])
def test_padded_batch_equals_each_sequence_alone(cls, reverse):
    torch.manual_seed(0)
    cell = cls(D, H).double().eval()  # eval: batch-norm statistics are per example
    layer = Recurrent(cell, reverse=reverse)
    x = noisy_padding(make_input(cls, len(LENGTHS)))
    out, state = layer(x, lengths=torch.tensor(LENGTHS))
    for b, n in enumerate(LENGTHS):
        alone_out, alone_state = layer(x[:n, b : b + 1])
        assert_close(out[:n, b : b + 1], alone_out)
        assert torch.count_nonzero(out[n:, b]) == 0
        for got, want in zip(fields(state), fields(alone_state), strict=True):
            assert_close(got[b : b + 1], want)


@pytest.mark.parametrize("cls", CELLS, ids=[cls.__name__ for cls in CELLS])
def test_bidirectional_padded_batch_equals_each_sequence_alone(cls):
    torch.manual_seed(1)
    layer = Bidirectional(
        Recurrent(cls(D, H).double()), Recurrent(cls(D, H).double(), reverse=True)
    ).eval()
    x = noisy_padding(make_input(cls, len(LENGTHS)))
    out, _ = layer(x, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS):
        alone, _ = layer(x[:n, b : b + 1])
        assert_close(out[:n, b : b + 1], alone)
