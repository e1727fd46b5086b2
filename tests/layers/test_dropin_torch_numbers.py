"""A drop-in given only torch's options trains bit for bit as torch.nn; ``fused=True`` to rounding.

Reference: ``torch.nn.LSTM``/``GRU``/``RNN`` with the same initial weights (copied), the same
batches, the same dropout draws (one seed per step), the same optimizer. By default every
loss, gradient and parameter after several steps must be *equal*, not close: a seeded script
that swaps the import must repeat its numbers. The fused CPU kernel, an explicit opt-in,
computes the same function in another order of floating-point operations.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit import layers

D, H, T, B, STEPS = 5, 8, 7, 3, 6
#: (drop-in, torch's options): every mode torch has
MODES = {
    "LSTM": ("LSTM", {}),
    "GRU": ("GRU", {}),
    "RNN_TANH": ("RNN", {"nonlinearity": "tanh"}),
    "RNN_RELU": ("RNN", {"nonlinearity": "relu"}),
}
TORCH = {"num_layers": 2, "dropout": 0.3, "bidirectional": True}


def twins(mode: str, **rnnkit_options) -> tuple[nn.RNNBase, nn.RNNBase]:
    """(rnnkit drop-in, torch.nn module), torch's initial weights copied into the drop-in."""
    kind, options = MODES[mode]
    torch.manual_seed(0)
    reference = getattr(nn, kind)(D, H, **TORCH, **options)
    mine = getattr(layers, kind)(D, H, **TORCH, **options, **rnnkit_options)
    mine.load_state_dict(reference.state_dict())
    return mine, reference


def trajectory(module: nn.RNNBase, optimizer: str) -> tuple[list[float], list, list]:
    """Losses, gradients and final parameters after STEPS optimizer steps on fixed batches."""
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9), "adam": torch.optim.Adam}
    opt = make[optimizer](module.parameters())
    data = torch.Generator().manual_seed(1)
    losses, grads = [], []
    for step in range(STEPS):
        x = torch.randn(T, B, D, generator=data)
        target = torch.randn(T, B, 2 * H, generator=data)
        torch.manual_seed(100 + step)  # the same dropout draws between layers for both
        opt.zero_grad()
        out, hidden = module(x)
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden
        loss = (out - target).square().mean() + h_n.square().mean()
        loss.backward()
        losses.append(loss.item())
        grads.append([p.grad.clone() for p in module.parameters()])
        opt.step()
    return losses, grads, [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("mode", list(MODES))
def test_default_trains_bit_for_bit_as_torch(mode, optimizer):
    mine, reference = twins(mode)
    losses, grads, params = trajectory(mine, optimizer)
    ref_losses, ref_grads, ref_params = trajectory(reference, optimizer)
    assert losses == ref_losses  # exactly, every step
    for step, (got, want) in enumerate(zip(grads, ref_grads, strict=True)):
        for g, w in zip(got, want, strict=True):
            assert torch.equal(g, w), f"step {step}"
    for got, want in zip(params, ref_params, strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_fused_opt_in_trains_as_torch_to_rounding(mode):
    mine, reference = twins(mode, fused=True)
    x = torch.randn(T, B, D, requires_grad=True)
    assert mine._fused_now(x)  # the opt-in does take rnnkit's kernel
    losses, grads, params = trajectory(mine, "sgd")
    ref_losses, ref_grads, ref_params = trajectory(reference, "sgd")
    assert_close(losses, ref_losses, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert_close(params, ref_params, rtol=1e-4, atol=1e-5)


def test_fused_is_an_explicit_option():
    x = torch.randn(T, B, D)
    assert not layers.GRU(D, H)._fused_now(x)  # torch's kernel by default
    assert layers.GRU(D, H, fused=True)._fused_now(x)
    assert not layers.GRU(D, H, fused=True)._fused_now(x.to("meta"))  # CPU only
    with torch.no_grad():  # inference stays on torch's kernel
        assert not layers.GRU(D, H, fused=True)._fused_now(x)
    assert layers.FusedLSTM(D, H)._fused_now(x)  # the class that opts in by itself
    assert "fused=True" in repr(layers.GRU(D, H, fused=True))
    assert "fused" not in repr(layers.GRU(D, H))


def test_fused_is_refused_where_no_fused_kernel_runs():
    with pytest.raises(ValueError, match="no fused kernel for the Elman RNN"):
        layers.RNN(D, H, fused=True)
    with pytest.raises(ValueError, match="fused=True needs proj_size=0, got proj_size=2"):
        layers.LSTM(D, H, proj_size=2, fused=True)
    with pytest.raises(ValueError, match="fused must be True or False, got 'yes'"):
        layers.GRU(D, H, fused="yes")
