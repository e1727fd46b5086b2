"""The compiled step kernels (``rnnkit.layers.fused._kernels``) against the torch-op loops.

test_fused.py runs every fused-path test on both; here: that the kernels are really the
code that runs, extreme and non-finite pre-activations, bit-exact frozen steps, and the
fallback for tensors the kernels cannot take.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from rnnkit.layers.fused import GRUMasks, LSTMMasks, fused_gru, fused_lstm, kernels

pytestmark = pytest.mark.skipif(kernels.module is None, reason="compiled kernels not built")

T, B, H = 6, 4, 5


class Counting:
    """Stands in for the kernel module and counts the calls that reach it."""

    def __init__(self, module) -> None:
        self.module, self.calls = module, 0

    def __getattr__(self, name):
        fn = getattr(self.module, name)

        def call(*args):
            self.calls += 1
            return fn(*args)

        return call


def both(fn, monkeypatch):
    """``fn()`` on the kernels (checking that they ran) and on the torch-op loops."""
    counting = Counting(kernels.module)
    monkeypatch.setattr(kernels, "module", counting)
    compiled = fn()
    assert counting.calls > 0
    monkeypatch.setattr(kernels, "ENABLED", False)
    ops = fn()
    monkeypatch.setattr(kernels, "ENABLED", True)
    return compiled, ops


def lstm_inputs(scale: float = 1.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    gx = torch.randn(T, B, 4 * H, generator=g, dtype=dtype) * scale
    h0, c0 = torch.randn(2, B, H, generator=g, dtype=dtype)
    w = torch.randn(4 * H, H, generator=g, dtype=dtype) * 0.5
    return gx, h0, c0, w


@pytest.mark.parametrize("scale", [30.0, 200.0])
def test_saturated_gates_match_torch(scale, monkeypatch):
    """Pre-activations far past exp's range: sigmoid and tanh saturate exactly like torch's."""
    gx, h0, c0, w = lstm_inputs(scale)
    compiled, ops = both(lambda: fused_lstm(gx, h0, c0, w), monkeypatch)
    for a, b in zip(compiled, ops, strict=True):
        assert torch.isfinite(a).all()
        assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_nan_propagates(monkeypatch):
    """A NaN input reaches the output (the trainer's NaN guard relies on it)."""
    gx, h0, c0, w = lstm_inputs()
    gx[2, 1, 3] = float("nan")
    out, _, _ = fused_lstm(gx, h0, c0, w)
    assert torch.isnan(out[2, 1, 3]) and torch.isnan(out[3:, 1]).all()  # then through W_hh
    assert not torch.isnan(out[:2]).any() and not torch.isnan(out[:, 0]).any()
    gru_gx = torch.zeros(T, B, 3 * H)
    gru_gx[0, 0, 0] = float("inf") - float("inf")
    out, _ = fused_gru(gru_gx, h0, w[: 3 * H], None)
    assert torch.isnan(out[0, 0, 0]) and torch.isnan(out[1:, 0]).all()
    assert not torch.isnan(out[:, 1:]).any()


@pytest.mark.parametrize("kind", ["lstm", "gru_after", "gru_before"])
def test_frozen_steps_keep_the_state_bit_for_bit(kind):
    """Zone weight 1 (a step past a sequence's end) copies h (and c) exactly."""
    gx, h0, c0, w = lstm_inputs()
    frozen = torch.zeros(T, B, 1)
    frozen[3:, 2] = 1.0
    masks = LSTMMasks(zone_h=frozen, zone_c=frozen)
    if kind == "lstm":
        out, _, _ = fused_lstm(gx, h0, c0, w, masks=masks)
    else:
        gx3 = gx[..., : 3 * H].contiguous()
        out, _ = fused_gru(gx3, h0, w[: 3 * H], None, reset_after=kind == "gru_after", masks=masks)
    assert torch.equal(out[3:, 2], out[2, 2].expand(T - 3, H))
    assert not torch.equal(out[3, 1], out[2, 1])


def test_tensors_the_kernels_cannot_take_fall_back(monkeypatch):
    """A non-contiguous mask, or a dtype other than float32/64: the torch-op loop, same values."""
    gx, h0, _, w = lstm_inputs()
    strided = torch.rand(H, B).t() * 2  # (B, H), not contiguous
    assert not kernels.usable(gx, strided)
    assert not kernels.usable(gx.bfloat16())
    counting = Counting(kernels.module)
    monkeypatch.setattr(kernels, "module", counting)
    out = fused_gru(gx[..., : 3 * H], h0, w[: 3 * H], None, masks=GRUMasks(candidate=strided))
    assert counting.calls == 0
    monkeypatch.setattr(kernels, "module", counting.module)
    want = fused_gru(
        gx[..., : 3 * H], h0, w[: 3 * H], None, masks=GRUMasks(candidate=strided.contiguous())
    )
    assert_close(out, want)


def test_wrong_argument_count_is_a_type_error():
    with pytest.raises(TypeError, match="gru_bwd takes 19 arguments"):
        kernels.module.gru_bwd(0, 1)
