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
    """Stands in for the kernel module and counts the calls that reach it (and their names)."""

    def __init__(self, module) -> None:
        self.module, self.calls, self.names = module, 0, set()

    def __getattr__(self, name):
        fn = getattr(self.module, name)

        def call(*args):
            self.calls += 1
            self.names.add(name)
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


def _lstm_grads(B: int, Hb: int, dtype, options: str):
    """fused_lstm's outputs and every input's gradient, on B x Hb with every option."""
    g = torch.Generator().manual_seed(1)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_()

    Tn = 4
    gx, h0, c0 = rnd(Tn, B, 4 * Hb), rnd(B, Hb), rnd(B, Hb)
    w, bias = rnd(4 * Hb, Hb, scale=Hb**-0.5), rnd(4 * Hb)
    kw = {"bias": bias}
    if options == "layer_norm":
        kw["norm_hh"] = (rnd(4 * Hb), rnd(4 * Hb), 1e-5)
        kw["norm_c"] = (rnd(Hb), rnd(Hb), 1e-5)
    else:
        kw["peephole"] = rnd(3, Hb)
    zone = (torch.rand(Tn, B, Hb, generator=g) < 0.3).to(dtype)
    drop = (torch.rand(B, Hb, generator=g) < 0.7).to(dtype) / 0.7
    masks = LSTMMasks(zone_h=zone, zone_c=zone.flip(0), candidate=drop, state=drop.flip(0))
    outs = fused_lstm(gx, h0, c0, w, masks=masks, **kw)
    loss = sum((o * torch.linspace(-1, 2, Hb, dtype=dtype)).square().sum() for o in outs)
    leaves = [gx, h0, c0, w, bias, *(t for v in kw.values() if isinstance(v, tuple) for t in v[:2])]
    leaves += [kw["peephole"]] if "peephole" in kw else []
    return [o.detach() for o in outs], torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("options", ["layer_norm", "peephole"])
def test_steps_split_among_threads_match_the_torch_op_loop(dtype, options, monkeypatch):
    """B x H above the kernels' parallel threshold with two threads: the rows are split among
    threads (and the LayerNorm gain gradients summed per thread); values and gradients equal
    the torch-op loop's, and a second run gives the same bits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert kernels.module.row_blocks(24, 192) == 1 + kernels.module.OPENMP
        assert kernels.module.row_blocks(3, 7) == 1  # tiny steps stay on one thread
        compiled, ops = both(lambda: _lstm_grads(24, 192, dtype, options), monkeypatch)
        again = _lstm_grads(24, 192, dtype, options)
    finally:
        torch.set_num_threads(threads)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4}
    for got, want in zip([*compiled[0], *compiled[1]], [*ops[0], *ops[1]], strict=True):
        scale = float(want.abs().max())
        assert_close(got, want, rtol=tol["rtol"], atol=tol.get("atol", 2e-5) * scale)
    for got, want in zip([*again[0], *again[1]], [*compiled[0], *compiled[1]], strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_steps_split_among_threads_match_the_torch_op_loop(reset_after, monkeypatch):
    g = torch.Generator().manual_seed(2)
    Bn, Hb = 24, 192
    gx = torch.randn(4, Bn, 3 * Hb, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(Bn, Hb, generator=g, dtype=torch.float64, requires_grad=True)
    w = (torch.randn(3 * Hb, Hb, generator=g, dtype=torch.float64) * Hb**-0.5).requires_grad_()
    b = torch.randn(3 * Hb, generator=g, dtype=torch.float64, requires_grad=True)
    zone = (torch.rand(4, Bn, 1, generator=g) < 0.3).double()
    drop = (torch.rand(Bn, Hb, generator=g) < 0.7).double() / 0.7
    masks = GRUMasks(zone_h=zone, candidate=drop, state=drop.flip(0))

    def run():
        out, h = fused_gru(gx, h0, w, b, reset_after=reset_after, masks=masks)
        loss = out.square().sum() + h.sin().sum()
        return [out.detach(), *torch.autograd.grad(loss, [gx, h0, w, b])]

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        compiled, ops = both(run, monkeypatch)
    finally:
        torch.set_num_threads(threads)
    for got, want in zip(compiled, ops, strict=True):
        assert_close(got, want, rtol=1e-10, atol=1e-10 * float(want.abs().max()))


@pytest.mark.skipif(kernels._MKL is None, reason="no MKL in this torch")
@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "gru"])
def test_whole_sequence_loops_equal_the_per_step_loops(kind, monkeypatch):
    """kernels.SEQUENCE, float32 with a packed step GEMM: one kernel call runs the whole
    sequence (MKL's packed GEMM inside); values and gradients equal those of the per-step
    loops (oneDNN's packed GEMM, forward and backward), with every mask."""
    g = torch.Generator().manual_seed(3)
    Tn, Bn, Hb = 5, 12, 16
    G = (3 if kind == "gru" else 4) * Hb
    gx = torch.randn(Tn, Bn, G, generator=g, requires_grad=True)
    h0, c0 = (torch.randn(Bn, Hb, generator=g, requires_grad=True) for _ in range(2))
    w = (torch.randn(G, Hb, generator=g) * 0.3).requires_grad_()
    bias = torch.randn(G, generator=g, requires_grad=True)
    norm = (torch.randn(G, generator=g), torch.randn(G, generator=g), 1e-5)
    zone = (torch.rand(Tn, Bn, Hb, generator=g) < 0.3).float()
    drop = (torch.rand(Bn, Hb, generator=g) < 0.7).float() / 0.7
    masks = LSTMMasks(zone_h=zone, zone_c=zone.flip(0), candidate=drop, state=drop.flip(0))

    def run():
        if kind == "gru":
            gru_masks = GRUMasks(zone_h=zone, candidate=drop, state=drop.flip(0))
            outs = fused_gru(gx, h0, w, bias, masks=gru_masks)
        else:
            ln = {"norm_hh": norm} if kind == "layer_norm" else {}
            outs = fused_lstm(gx, h0, c0, w, bias=bias, masks=masks, **ln)
        loss = sum((o * o.detach().flip(-1)).sum() for o in outs)
        leaves = [gx, h0, w, bias] + ([] if kind == "gru" else [c0])
        return [o.detach() for o in outs], torch.autograd.grad(loss, leaves)

    counting = Counting(kernels.module)
    monkeypatch.setattr(kernels, "module", counting)
    monkeypatch.setattr(kernels, "SEQUENCE", True)
    whole = run()
    family = "gru" if kind == "gru" else "lstm"
    assert counting.names == {f"{family}_seq_fwd", f"{family}_seq_bwd"}
    monkeypatch.setattr(kernels, "SEQUENCE", False)
    steps = run()
    for got, want in zip([*whole[0], *whole[1]], [*steps[0], *steps[1]], strict=True):
        assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


@pytest.mark.parametrize("shape", [(3, 4), (40, 64, 2048)])  # the second: 20 MiB, huge pages
def test_buffer_is_an_empty_tensor_like_new_empty(shape):
    like = torch.zeros(1, dtype=torch.float32)
    t = kernels.buffer(like, *shape)
    assert t.shape == shape and t.dtype == like.dtype and t.is_contiguous()
    t.fill_(0.5)
    assert float(t.sum()) == 0.5 * t.numel()
