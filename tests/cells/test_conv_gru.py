"""ConvGRUCell against torch.nn.GRUCell per pixel (1x1) and a shifted-sum conv reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells.conv_gru import ConvGRUCell

C, HC, B, T, SIZE = 2, 3, 2, 3, (5, 4)
F64 = torch.float64


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny convolutions: on a busy machine thread hand-offs cost far more than the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def conv_same(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """Cross-correlation with zero 'same' padding as a sum over kernel offsets (no conv2d)."""
    kh, kw = w.shape[-2:]
    H, W = x.shape[-2:]
    xp = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2))
    out = sum(
        torch.einsum("oc,bchw->bohw", w[:, :, dy, dx], xp[:, :, dy : dy + H, dx : dx + W])
        for dy in range(kh)
        for dx in range(kw)
    )
    return out if b is None else out + b[:, None, None]


def reference(p: dict[str, Tensor], xs: Tensor, h: Tensor, reset_after: bool) -> Tensor:
    """Slow loop: Ballas et al. (2016) eq. 4-7 (reset before), or torch's reset-after form."""
    w_hh, b_hh = p["weight_hh"], p.get("bias_hh")
    rows = [slice(k * HC, (k + 1) * HC) for k in range(3)]
    outs = []
    for x in xs:
        a = conv_same(x, p["weight_ih"], p.get("bias_ih"))
        uh = [conv_same(h, w_hh[s], None if b_hh is None else b_hh[s]) for s in rows]
        r = torch.sigmoid(a[:, rows[0]] + uh[0])
        z = torch.sigmoid(a[:, rows[1]] + uh[1])
        if reset_after:
            n = torch.tanh(a[:, rows[2]] + r * uh[2])
        else:
            bn = None if b_hh is None else b_hh[rows[2]]
            n = torch.tanh(a[:, rows[2]] + conv_same(r * h, w_hh[rows[2]], bn))
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs)


def run_cell(cell: nn.Module, xs: Tensor, h: Tensor | None) -> Tensor:
    hs = []
    for x in xs:
        out, h = cell(x, h)
        hs.append(out)
    return torch.stack(hs)


@pytest.mark.parametrize(
    ("kernel_size", "reset_after", "bias"),
    [(3, False, True), (3, True, True), ((5, 1), False, False), (3, True, False)],
)
def test_matches_reference_loop_outputs_and_gradients(kernel_size, reset_after, bias) -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(C, HC, kernel_size=kernel_size, reset_after=reset_after, bias=bias)
    cell = cell.to(F64)
    xs = torch.randn(T, B, C, *SIZE, dtype=F64, requires_grad=True)
    h0 = torch.randn(B, HC, *SIZE, dtype=F64)
    out = run_cell(cell, xs, h0)
    params = {n: p.detach().clone().requires_grad_() for n, p in cell.named_parameters()}
    xs_ref = xs.detach().clone().requires_grad_()
    ref = reference(params, xs_ref, h0, reset_after)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(xs.grad, xs_ref.grad)
    for name, p in cell.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_reset_variants_differ() -> None:
    """The two forms are different functions (so each reference check above has teeth)."""
    torch.manual_seed(0)
    before = ConvGRUCell(C, HC).to(F64)
    after = ConvGRUCell(C, HC, reset_after=True).to(F64)
    after.load_state_dict(before.state_dict())
    x, h = torch.randn(B, C, *SIZE, dtype=F64), torch.randn(B, HC, *SIZE, dtype=F64)
    assert not torch.allclose(before(x, h)[0], after(x, h)[0])


def test_one_by_one_kernel_reset_after_is_torch_gru_cell_at_every_pixel() -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(C, HC, kernel_size=1, reset_after=True).to(F64)
    twin = nn.GRUCell(C, HC).to(F64)
    twin.load_state_dict(
        {k: v.flatten(1) if v.dim() == 4 else v for k, v in cell.state_dict().items()}
    )
    xs = torch.randn(T, B, C, *SIZE, dtype=F64, requires_grad=True)
    out = run_cell(cell, xs, None)  # (T, B, HC, H, W), zero state from x's spatial size
    xs_twin = xs.detach().clone().requires_grad_()
    pixels = xs_twin.permute(0, 1, 3, 4, 2).reshape(T, -1, C)  # (T, B*H*W, C)
    h, outs = None, []
    for x in pixels:
        h = twin(x, h)
        outs.append(h)
    expected = torch.stack(outs).reshape(T, B, *SIZE, HC).permute(0, 1, 4, 2, 3)
    torch.testing.assert_close(out, expected)
    out.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    torch.testing.assert_close(xs.grad, xs_twin.grad)
    torch.testing.assert_close(cell.weight_hh.grad.flatten(1), twin.weight_hh.grad)
    torch.testing.assert_close(cell.bias_hh.grad, twin.bias_hh.grad)


def test_hoisted_projection_over_time_equals_forward() -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(C, HC).to(F64)
    xs = torch.randn(T, B, C, *SIZE, dtype=F64)
    gxs = cell.project_input(xs)  # (T, B, 3HC, H, W) in one call
    assert gxs.shape == (T, B, 3 * HC, *SIZE)
    h = cell.zero_state(xs[0])
    out_fwd = run_cell(cell, xs, h)
    hs = []
    for gx in gxs:
        out, h = cell.step(gx, h)
        hs.append(out)
    torch.testing.assert_close(torch.stack(hs), out_fwd)


def test_candidate_passes_through_hook() -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(C, HC).to(F64)

    class Zero(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return torch.zeros_like(g)

    cell.candidate_dropout = Zero()
    x, h = torch.randn(B, C, *SIZE, dtype=F64), torch.randn(B, HC, *SIZE, dtype=F64)
    a = conv_same(x, cell.weight_ih, cell.bias_ih) + conv_same(h, cell.weight_hh, cell.bias_hh)
    torch.testing.assert_close(cell(x, h)[0], torch.sigmoid(a[:, HC : 2 * HC]) * h)


def test_states() -> None:
    cell = ConvGRUCell(C, HC)
    h = cell.zero_state(torch.randn(B, C, 6, 7))
    assert h.shape == (B, HC, 6, 7) and not h.any()
    assert cell.initial_state(4, spatial_size=(2, 3)).shape == (4, HC, 2, 3)
    with pytest.raises(ValueError, match="None"):
        cell.initial_state(4)
    assert ConvGRUCell(C, HC, spatial_size=(2, 3)).initial_state(1).shape == (1, HC, 2, 3)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gradcheck_through_steps(reset_after: bool) -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(2, 2, reset_after=reset_after).to(F64)
    names = [n for n, _ in cell.named_parameters()]
    xs = torch.randn(2, 2, 2, 4, 4, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 2, 4, 4, dtype=F64, requires_grad=True)
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(xs: Tensor, h: Tensor, *ps: Tensor) -> Tensor:
        pd, hs = dict(zip(names, ps, strict=True)), []
        for x in xs:
            out, h = functional_call(cell, pd, (x, h))
            hs.append(out)
        return torch.stack(hs)

    assert torch.autograd.gradcheck(fn, (xs, h0, *params))


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"kernel_size": (3, 5)}])
def test_num_parameters(kwargs: dict) -> None:
    cell = ConvGRUCell(3, 4, **kwargs)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"kernel_size": 4}, "got 4"),
        ({"kernel_size": (1, 2)}, r"\(1, 2\)"),
        ({"reset_after": "yes"}, "'yes'"),
        ({"bias": None}, "None"),
        ({"spatial_size": (3,)}, r"\(3,\)"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        ConvGRUCell(C, HC, **kwargs)
