"""Gradient checkpointing over time (``checkpoint_every=K``) against full backpropagation.

Deterministic layers must give the same outputs, final states and gradients as without
checkpointing. With random regularizers the segments draw their masks differently from a
single pass, so the reference is the same segmented forward with ``checkpoint`` replaced by
a plain call (nothing dropped, nothing recomputed): a recomputation that drew other masks
or saw other weights would change the gradients.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

import rnnkit.layers.fused.checkpoint as ckpt
from rnnkit import layers
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.layers import Recurrent
from rnnkit.layers.fused import disabled

D, H = 3, 4


def run(layer: nn.Module, x: Tensor, **kwargs) -> tuple[Tensor, list[Tensor], tuple]:
    out, state = layer(x, **kwargs)
    fields = [state] if isinstance(state, Tensor) else list(state)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).square().sum()
    loss = loss + sum(f.sin().sum() for f in fields)
    return out, fields, torch.autograd.grad(loss, [x, *layer.parameters()])


def assert_runs_equal(a: tuple, b: tuple, **tol) -> None:
    (out, fields, grads), (ref_out, ref_fields, ref_grads) = a, b
    for got, want in zip([out, *fields, *grads], [ref_out, *ref_fields, *ref_grads], strict=True):
        assert_close(got, want, **tol)


@pytest.mark.parametrize("K", [1, 3, 4, 20])
@pytest.mark.parametrize("cell", [LSTMCell, LayerNormLSTMCell, GRUCell, SimpleRNNCell])
def test_gradients_equal_full_backprop(cell, K):
    torch.manual_seed(0)
    full = Recurrent(cell(D, H).double(), reverse=True)
    checkpointed = Recurrent(full.cell, reverse=True, checkpoint_every=K)
    x = torch.randn(10, 3, D, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([10, 4, 7])
    want = run(full, x, lengths=lengths)
    got = run(checkpointed, x, lengths=lengths)
    assert_runs_equal(got, want, rtol=1e-12, atol=1e-12)


def test_step_loop_path_is_checkpointed_too():
    torch.manual_seed(1)
    full = Recurrent(LSTMCell(D, H).double())
    checkpointed = Recurrent(full.cell, checkpoint_every=3)
    x = torch.randn(8, 2, D, dtype=torch.float64, requires_grad=True)
    with disabled():
        assert_runs_equal(run(checkpointed, x), run(full, x), rtol=1e-12, atol=1e-12)


def _no_recompute(fn, *args, use_reentrant):
    assert use_reentrant is False
    return fn(*args)


@pytest.mark.parametrize("fused", [True, False])
def test_recomputation_redraws_the_same_masks(fused, monkeypatch):
    """Zoneout draws fresh masks every step; recomputed segments must draw the same ones."""
    torch.manual_seed(2)
    layer = Recurrent(
        LSTMCell(D, H),
        checkpoint_every=3,
        zoneout=0.3,
        state_dropout=0.2,
        recurrent_dropout=0.3,
        input_dropout=0.2,
    )
    x = torch.randn(11, 4, D, requires_grad=True)
    results = []
    for patch in (False, True):
        if patch:
            monkeypatch.setattr(ckpt, "checkpoint", _no_recompute)
        torch.manual_seed(3)
        if fused:
            results.append(run(layer, x))
        else:
            with disabled():
                results.append(run(layer, x))
    assert_runs_equal(results[0], results[1])


def test_dropin_with_weight_drop_recomputes_with_the_dropped_weights(monkeypatch):
    """Weights substituted only during the forward (functional_call, weight drop) are restored."""
    torch.manual_seed(4)
    lstm = layers.LSTM(D, H, num_layers=2, weight_drop=0.5, checkpoint_every=2)
    x = torch.randn(7, 3, D, requires_grad=True)
    assert lstm._generic_now()
    results = []
    for patch in (False, True):
        if patch:
            monkeypatch.setattr(ckpt, "checkpoint", _no_recompute)
        torch.manual_seed(5)
        results.append(run(lstm, x))
    assert_runs_equal(results[0], results[1])


def test_dropin_equals_torch():
    torch.manual_seed(6)
    twin = nn.LSTM(D, H, num_layers=2, bidirectional=True, batch_first=True)
    mine = layers.LSTM(D, H, num_layers=2, bidirectional=True, batch_first=True, checkpoint_every=3)
    mine.load_state_dict(twin.state_dict())
    x = torch.randn(2, 8, D, requires_grad=True)
    assert_runs_equal(run(mine, x), run(twin, x), rtol=1e-4, atol=1e-5)
    mine.eval()
    with torch.no_grad():
        assert not mine._generic_now()  # no gradients: nothing to checkpoint, native kernel


def saved_bytes(layer: nn.Module, x: Tensor) -> int:
    """Bytes of the storages autograd saves (parameters and input excluded) + checkpoint args."""
    skip = {t.untyped_storage().data_ptr() for t in [x, *layer.parameters()]}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        if t.untyped_storage().data_ptr() not in skip:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    def keep_args(fn, *args, use_reentrant):
        for arg in args:
            for t in arg if isinstance(arg, tuple) else (arg,):
                if isinstance(t, Tensor):
                    pack(t)
        return original(fn, *args, use_reentrant=use_reentrant)

    original = ckpt.checkpoint
    ckpt.checkpoint = keep_args
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x)
    finally:
        ckpt.checkpoint = original
    return sum(seen.values())


def test_activation_memory_is_about_k_plus_t_over_k():
    torch.manual_seed(7)
    full = Recurrent(LSTMCell(8, 16))
    x = torch.randn(100, 4, 8)
    sizes = {K: saved_bytes(Recurrent(full.cell, checkpoint_every=K), x) for K in (2, 10, 50)}
    whole = saved_bytes(full, x)
    # kept: the first segment's K steps (~7H floats a step) + one (h, c) per segment boundary
    assert sizes[10] < 0.2 * whole
    assert sizes[10] < sizes[2] and sizes[10] < sizes[50]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_checkpoint_every_is_validated(bad):
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        Recurrent(LSTMCell(D, H), checkpoint_every=bad)
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        layers.GRU(D, H, checkpoint_every=bad)
