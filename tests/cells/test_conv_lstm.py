"""ConvLSTMCell against torch.nn.LSTMCell per pixel (1x1) and a shifted-sum conv reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.cells.conv_lstm import ConvLSTMCell
from rnnkit.cells.state import LSTMState

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


def reference(p: dict[str, Tensor], xs: Tensor, h: Tensor, c: Tensor, peephole: bool) -> Tensor:
    """Slow loop, Shi et al. (2015) eq. 3."""
    outs = []
    for x in xs:
        a = conv_same(x, p["weight_ih"], p.get("bias_ih")) + conv_same(
            h, p["weight_hh"], p.get("bias_hh")
        )
        i, f, g, o = (a[:, k * HC : (k + 1) * HC] for k in range(4))
        if peephole:
            i, f = i + p["weight_ci"] * c, f + p["weight_cf"] * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if peephole:
            o = o + p["weight_co"] * c
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs)


def run_cell(cell: nn.Module, xs: Tensor, state: LSTMState | None) -> Tensor:
    hs = []
    for x in xs:
        h, state = cell(x, state)
        hs.append(h)
    return torch.stack(hs)


@pytest.mark.parametrize(
    ("kernel_size", "peephole", "bias"), [(3, True, True), ((1, 5), False, True), (3, False, False)]
)
def test_matches_reference_loop_outputs_and_gradients(kernel_size, peephole, bias) -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(
        C, HC, kernel_size=kernel_size, peephole=peephole, bias=bias, spatial_size=SIZE
    ).to(F64)
    xs = torch.randn(T, B, C, *SIZE, dtype=F64, requires_grad=True)
    h0, c0 = (torch.randn(B, HC, *SIZE, dtype=F64) for _ in range(2))
    out = run_cell(cell, xs, LSTMState(h0, c0))
    params = {n: p.detach().clone().requires_grad_() for n, p in cell.named_parameters()}
    xs_ref = xs.detach().clone().requires_grad_()
    ref = reference(params, xs_ref, h0, c0, peephole)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(xs.grad, xs_ref.grad)
    for name, p in cell.named_parameters():
        torch.testing.assert_close(p.grad, params[name].grad, msg=name)


def test_one_by_one_kernel_is_torch_lstm_cell_at_every_pixel() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(C, HC, kernel_size=1).to(F64)
    twin = nn.LSTMCell(C, HC).to(F64)
    twin.load_state_dict(
        {k: v.flatten(1) if v.dim() == 4 else v for k, v in cell.state_dict().items()}
    )
    xs = torch.randn(T, B, C, *SIZE, dtype=F64, requires_grad=True)
    out = run_cell(cell, xs, None)  # (T, B, HC, H, W), zero state from x's spatial size
    xs_twin = xs.detach().clone().requires_grad_()
    pixels = xs_twin.permute(0, 1, 3, 4, 2).reshape(T, -1, C)  # (T, B*H*W, C)
    hx, outs = None, []
    for x in pixels:
        hx = twin(x, hx)
        outs.append(hx[0])
    expected = torch.stack(outs).reshape(T, B, *SIZE, HC).permute(0, 1, 4, 2, 3)
    torch.testing.assert_close(out, expected)
    out.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    torch.testing.assert_close(xs.grad, xs_twin.grad)
    torch.testing.assert_close(cell.weight_hh.grad.flatten(1), twin.weight_hh.grad)
    torch.testing.assert_close(cell.bias_ih.grad, twin.bias_ih.grad)


def test_hoisted_projection_over_time_equals_forward() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(C, HC, peephole=True, spatial_size=SIZE).to(F64)
    xs = torch.randn(T, B, C, *SIZE, dtype=F64)
    gxs = cell.project_input(xs)  # (T, B, 4HC, H, W) in one call
    assert gxs.shape == (T, B, 4 * HC, *SIZE)
    state = cell.zero_state(xs[0])
    out_fwd = run_cell(cell, xs, state)
    hs = []
    for gx in gxs:
        h, state = cell.step(gx, state)
        hs.append(h)
    torch.testing.assert_close(torch.stack(hs), out_fwd)


def test_candidate_passes_through_hook() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(C, HC).to(F64)

    class Zero(nn.Module):
        def forward(self, g: Tensor) -> Tensor:
            return torch.zeros_like(g)

    cell.candidate_dropout = Zero()
    x = torch.randn(B, C, *SIZE, dtype=F64)
    h, c = (torch.randn(B, HC, *SIZE, dtype=F64) for _ in range(2))
    _, (_, c_new) = cell(x, LSTMState(h, c))
    a = conv_same(x, cell.weight_ih, cell.bias_ih) + conv_same(h, cell.weight_hh, cell.bias_hh)
    torch.testing.assert_close(c_new, torch.sigmoid(a[:, HC : 2 * HC]) * c)


def test_states() -> None:
    cell = ConvLSTMCell(C, HC)
    h, c = cell.zero_state(torch.randn(B, C, 6, 7))
    assert h.shape == c.shape == (B, HC, 6, 7) and not h.any() and not c.any()
    assert cell.initial_state(4, spatial_size=(2, 3)).h.shape == (4, HC, 2, 3)
    with pytest.raises(ValueError, match="None"):
        cell.initial_state(4)
    assert ConvLSTMCell(C, HC, spatial_size=(2, 3)).initial_state(1).c.shape == (1, HC, 2, 3)


def test_peephole_rejects_other_spatial_size() -> None:
    cell = ConvLSTMCell(C, HC, peephole=True, spatial_size=(4, 4))
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        cell(torch.randn(B, C, 5, 4))


def test_gradcheck_through_steps() -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(2, 2, peephole=True, spatial_size=(4, 4)).to(F64)
    names = [n for n, _ in cell.named_parameters()]
    xs = torch.randn(2, 2, 2, 4, 4, dtype=F64, requires_grad=True)
    h0, c0 = (torch.randn(2, 2, 4, 4, dtype=F64, requires_grad=True) for _ in range(2))
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(xs: Tensor, h0: Tensor, c0: Tensor, *ps: Tensor) -> tuple[Tensor, Tensor]:
        state, pd, hs = LSTMState(h0, c0), dict(zip(names, ps, strict=True)), []
        for x in xs:
            h, state = functional_call(cell, pd, (x, state))
            hs.append(h)
        return torch.stack(hs), state.c

    assert torch.autograd.gradcheck(fn, (xs, h0, c0, *params))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"bias": False}, {"peephole": True, "spatial_size": (5, 6)}, {"kernel_size": (3, 5)}],
)
def test_num_parameters(kwargs: dict) -> None:
    cell = ConvLSTMCell(3, 4, **kwargs)
    assert cell.num_parameters() == sum(p.numel() for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"kernel_size": 2}, "got 2"),
        ({"kernel_size": (3, 4)}, r"\(3, 4\)"),
        ({"kernel_size": 0}, "got 0"),
        ({"peephole": True}, "None"),
        ({"peephole": 1}, "got 1"),
        ({"spatial_size": (0, 4)}, "got 0"),
    ],
)
def test_invalid_options(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        ConvLSTMCell(C, HC, **kwargs)
