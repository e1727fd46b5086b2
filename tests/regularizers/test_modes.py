"""Every regularizer in Recurrent: off in eval, deterministic under a seed, gradcheck."""

from __future__ import annotations

import copy

import pytest
import torch

from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Recurrent
from rnnkit.regularizers import RecurrentDropout, VariationalDropout, WeightDrop, Zoneout

D, H = 2, 2
OPTIONS = {
    "input": lambda: {"input_dropout": VariationalDropout(0.5)},
    "state": lambda: {"state_dropout": VariationalDropout(0.5)},
    "output": lambda: {"output_dropout": VariationalDropout(0.5)},
    "recurrent": lambda: {"recurrent_dropout": RecurrentDropout(0.5)},
    "zoneout": lambda: {"zoneout": Zoneout(0.3, p_c=0.6)},
    "weight": lambda: {"weight_drop": WeightDrop(0.5)},
}
DROPOUTS = [name for name in OPTIONS if name != "zoneout"]  # zoneout's eval is tested apart


def layers(name: str, dtype=torch.float32) -> tuple[Recurrent, Recurrent]:
    """(plain layer, regularized layer) over the same cell."""
    torch.manual_seed(0)
    cell = LSTMCell(D, H).to(dtype)
    plain = Recurrent(copy.deepcopy(cell))  # recurrent dropout is installed on the cell
    return plain, Recurrent(cell, **OPTIONS[name]())


@pytest.mark.parametrize("name", DROPOUTS)
def test_off_in_eval(name):
    plain, regularized = layers(name)
    x = torch.randn(5, 4, D)
    assert torch.equal(
        regularized.eval()(x, lengths=[5, 3, 1, 4])[0], plain(x, lengths=[5, 3, 1, 4])[0]
    )


@pytest.mark.parametrize("name", list(OPTIONS))
def test_deterministic_under_a_seed_and_random_across_seeds(name):
    plain, regularized = layers(name)
    x = torch.randn(5, 4, D)
    torch.manual_seed(10)
    first = regularized(x)[0]
    torch.manual_seed(10)
    assert torch.equal(regularized(x)[0], first)
    torch.manual_seed(11)
    assert not torch.equal(regularized(x)[0], first)
    assert not torch.equal(plain(x)[0], first)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_gradcheck(name, training):
    _, layer = layers(name, torch.float64)
    layer.train(training)
    x = torch.randn(3, 3, D, dtype=torch.float64, requires_grad=True)
    names = [f"cell.{n}" for n, _ in layer.cell.named_parameters()]
    params = [p.detach().requires_grad_() for p in layer.cell.parameters()]

    def f(x, *p):
        torch.manual_seed(5)  # the same masks at every call: train mode with fixed masks
        out, (h, c) = torch.func.functional_call(
            layer, dict(zip(names, p, strict=True)), (x,), {"lengths": [3, 1, 2]}
        )
        return out, h, c

    assert torch.autograd.gradcheck(f, (x, *params))
