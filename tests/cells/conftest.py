"""Shared harness for the cell tests."""

from collections.abc import Callable

import pytest
import torch
from torch.func import functional_call

from rnnkit.cells.base import RecurrentCell


def gradcheck_steps(cell: RecurrentCell, xs: torch.Tensor, state) -> bool:
    """float64 gradcheck of ``len(xs)`` steps through ``cell`` with respect to the inputs, every
    initial-state field and every parameter; it sees each output and the final state."""
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    fields = list(state) if isinstance(state, tuple) else [state]

    def run(xs, *args):
        parts, weights = args[: len(fields)], dict(zip(names, args[len(fields) :], strict=True))
        s = type(state)(*parts) if isinstance(state, tuple) else parts[0]
        outs = []
        for x in xs:
            y, s = functional_call(cell, weights, (x, s))
            outs.append(y)
        return (torch.stack(outs), *(s if isinstance(s, tuple) else (s,)))

    return torch.autograd.gradcheck(run, (xs, *fields, *params))


@pytest.fixture
def gradcheck_unrolled() -> Callable[..., bool]:
    return gradcheck_steps
