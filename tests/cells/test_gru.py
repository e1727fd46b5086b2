"""GRUCell: reset_after=True against torch.nn.GRUCell, reset_after=False against a slow loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells.gru import GRUCell

D, H, B, T = 3, 5, 4, 6


def unroll(cell: nn.Module, xs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    outs = []
    for x in xs:
        out = cell(x, h)
        h = out[0] if isinstance(out, tuple) else out
        outs.append(h)
    return torch.stack(outs)


def cho_reference(cell: GRUCell, xs: torch.Tensor, h: torch.Tensor, *, write_gate: bool = False):
    """Slow loop from Cho et al.'s equations (reset before the projection), gate by gate.

    ``write_gate=True`` uses Chung et al.'s convention h = (1 - z) h + z ĥ instead.
    """
    W = dict(zip("rzn", cell.weight_ih.split(H), strict=True))
    V = dict(zip("rzn", cell.weight_hh.split(H), strict=True))
    bi = dict(zip("rzn", cell.bias_ih.split(H), strict=True))
    bh = dict(zip("rzn", cell.bias_hh.split(H), strict=True))
    outs = []
    for x in xs:
        r = torch.sigmoid(x @ W["r"].T + bi["r"] + h @ V["r"].T + bh["r"])
        u = torch.sigmoid(x @ W["z"].T + bi["z"] + h @ V["z"].T + bh["z"])
        h_hat = torch.tanh(x @ W["n"].T + bi["n"] + (r * h) @ V["n"].T + bh["n"])
        h = (1 - u) * h + u * h_hat if write_gate else u * h + (1 - u) * h_hat
        outs.append(h)
    return torch.stack(outs)


def outputs_and_grads(run, cell, xs, h0):
    """Output and the gradients of sum(out²), fresh tensors each call (nothing accumulated).

    Two runs over the same cell must not share ``.grad`` tensors: ``backward`` would add the
    second run's gradients into the first's, and the comparison would see one tensor twice.
    """
    x, h = xs.clone().requires_grad_(), h0.clone().requires_grad_()
    out = run(cell, x, h)
    names, params = zip(*cell.named_parameters(), strict=True)
    grads = torch.autograd.grad(out.pow(2).sum(), [x, h, *params])
    return [out, *grads[:2]], dict(zip(names, grads[2:], strict=True))


def assert_same(a, b) -> None:
    (ta, pa), (tb, pb) = a, b
    for x, y in zip(ta, tb, strict=True):
        torch.testing.assert_close(x, y)
    assert pa.keys() == pb.keys()
    for name in pa:
        torch.testing.assert_close(pa[name], pb[name], msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_reset_after_loads_torch_state_dict_and_matches(bias: bool) -> None:
    torch.manual_seed(0)
    twin = nn.GRUCell(D, H, bias=bias)
    ours = GRUCell(D, H, bias=bias)
    ours.load_state_dict(twin.state_dict())
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    assert_same(outputs_and_grads(unroll, ours, xs, h0), outputs_and_grads(unroll, twin, xs, h0))


def test_torch_loads_our_state_dict_and_matches() -> None:
    torch.manual_seed(1)
    ours = GRUCell(D, H)
    twin = nn.GRUCell(D, H)
    twin.load_state_dict(ours.state_dict())
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    assert_same(outputs_and_grads(unroll, ours, xs, h0), outputs_and_grads(unroll, twin, xs, h0))


def test_reset_before_matches_cho_slow_loop() -> None:
    torch.manual_seed(2)
    cell = GRUCell(D, H, reset_after=False).double()
    xs, h0 = torch.randn(T, B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    assert_same(
        outputs_and_grads(unroll, cell, xs, h0), outputs_and_grads(cho_reference, cell, xs, h0)
    )


def test_reset_before_without_bias_matches_slow_loop() -> None:
    torch.manual_seed(3)
    cell = GRUCell(D, H, bias=False, reset_after=False)
    with_zero_bias = GRUCell(D, H, reset_after=False)
    with torch.no_grad():
        with_zero_bias.weight_ih.copy_(cell.weight_ih)
        with_zero_bias.weight_hh.copy_(cell.weight_hh)
        with_zero_bias.bias_ih.zero_()
        with_zero_bias.bias_hh.zero_()
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    torch.testing.assert_close(unroll(cell, xs, h0), cho_reference(with_zero_bias, xs, h0))


def test_reset_placement_matters() -> None:
    torch.manual_seed(4)
    after = GRUCell(D, H)
    before = GRUCell(D, H, reset_after=False)
    before.load_state_dict(after.state_dict())  # same names and shapes in both forms
    nn.GRUCell(D, H).load_state_dict(before.state_dict())
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    assert not torch.allclose(unroll(after, xs, h0), unroll(before, xs, h0))


def test_chung_convention_loads_by_negating_the_z_rows() -> None:
    torch.manual_seed(5)
    chung = GRUCell(D, H, reset_after=False)  # holds weights trained in Chung's convention
    ours = GRUCell(D, H, reset_after=False)
    ours.load_state_dict(chung.state_dict())
    with torch.no_grad():
        for p in ours.parameters():
            p[H : 2 * H].neg_()
    xs, h0 = torch.randn(T, B, D), torch.randn(B, H)
    expected = cho_reference(chung, xs, h0, write_gate=True)
    torch.testing.assert_close(unroll(ours, xs, h0), expected)


@pytest.mark.parametrize("reset_after", [True, False])
def test_update_gate_shut_keeps_the_old_state(reset_after: bool) -> None:
    # The code's convention: z = 1 keeps h_{t-1} exactly (z = sigmoid(1e9) = 1).
    torch.manual_seed(6)
    cell = GRUCell(D, H, reset_after=reset_after)
    with torch.no_grad():
        cell.bias_ih[H : 2 * H] = 1e9
    h0 = torch.randn(B, H)
    assert torch.equal(unroll(cell, torch.randn(20, B, D), h0)[-1], h0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gradcheck(reset_after: bool, gradcheck_unrolled) -> None:
    torch.manual_seed(7)
    cell = GRUCell(2, 3, reset_after=reset_after).double()
    xs = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck_unrolled(cell, xs, h0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reset_after", [True, False])
def test_num_parameters(bias: bool, reset_after: bool) -> None:
    cell = GRUCell(7, 11, bias=bias, reset_after=reset_after)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())
    assert cell.num_parameters() == 3 * 11 * (7 + 11 + (2 if bias else 0))


@pytest.mark.parametrize(
    ("kwargs", "quoted"), [({"reset_after": "yes"}, "'yes'"), ({"bias": 0}, "0")]
)
def test_invalid_options(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        GRUCell(3, 4, **kwargs)
