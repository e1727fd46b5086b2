"""WeightDrop: one DropConnect mask per batch, in rnnkit's loop and on torch's kernel."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import Recurrent
from rnnkit.regularizers import WeightDrop
from rnnkit.regularizers.weight_drop import same_layout

D, H = 3, 4


def twin_with(cell: LSTMCell, **replace: torch.Tensor) -> nn.LSTM:
    twin = nn.LSTM(D, H)
    state = {f"{k}_l0": replace.get(k, v) for k, v in cell.state_dict().items()}
    twin.load_state_dict(state)
    return twin


def test_mask_is_constant_over_the_steps_of_a_batch_and_new_per_batch():
    torch.manual_seed(0)
    cell = LSTMCell(D, H)
    before = cell.weight_hh.detach().clone()
    layer = Recurrent(cell, weight_drop=WeightDrop(0.5))
    x = torch.randn(7, 3, D)
    out, (h_n, _) = layer(x)
    mask = layer.weight_drop.masks["weight_hh"]
    assert list(layer.weight_drop.masks) == ["weight_hh"]
    twin = twin_with(cell, weight_hh=cell.weight_hh.detach() * mask)
    ref_out, (ref_h, _) = twin(x)
    assert_close(out, ref_out)  # one dropped matrix at every step
    assert_close(h_n, ref_h[0])
    assert torch.equal(cell.weight_hh, before)  # the parameter is untouched
    assert isinstance(cell.weight_hh, nn.Parameter)
    grad = torch.autograd.grad(out.sum(), cell.weight_hh)[0]
    ref_grad = torch.autograd.grad(ref_out.sum(), twin.weight_hh_l0)[0]
    assert_close(grad, ref_grad * mask)
    layer(x)
    assert not torch.equal(layer.weight_drop.masks["weight_hh"], mask)


def test_wrapping_a_torch_lstm_runs_its_kernel_with_the_dropped_weights():
    torch.manual_seed(1)
    lstm = nn.LSTM(D, H, num_layers=2)
    drop = WeightDrop(0.3)
    x = torch.randn(5, 2, D)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = drop(lstm, x)
    reference = nn.LSTM(D, H, num_layers=2)
    state = lstm.state_dict()
    for name, mask in drop.masks.items():
        state[name] = state[name] * mask
    reference.load_state_dict(state)
    assert sorted(drop.masks) == ["weight_hh_l0", "weight_hh_l1"]
    assert_close(out, reference(x)[0])
    whole = nn.LSTM(D, H, num_layers=2)
    whole.load_state_dict(lstm.state_dict())
    assert_close(lstm(x)[0], whole(x)[0])  # outside the call the weights are whole again


def test_same_layout_rebuilds_a_flat_buffer_with_the_same_offsets():
    torch.manual_seed(2)
    lstm = nn.LSTM(D, H, num_layers=2)
    params = list(lstm._flat_weights)
    sizes = [p.numel() for p in params]
    flat = torch.zeros(sum(sizes) + 8)  # 8 trailing slots, like cuDNN's padding
    offset = 0
    for p in params:
        flat[offset : offset + p.numel()] = p.detach().reshape(-1)
        p.data = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    assert len({p.untyped_storage().data_ptr() for p in params}) == 1
    masks = [torch.rand_like(p) for p in params]
    weights = [p * m for p, m in zip(params, masks, strict=True)]
    views = same_layout(params, weights)
    assert len({v.untyped_storage().data_ptr() for v in views}) == 1
    assert views[0].untyped_storage().nbytes() == flat.untyped_storage().nbytes()
    for view, p, w in zip(views, params, weights, strict=True):
        assert view.storage_offset() == p.storage_offset()
        assert torch.equal(view, w)
    grads = torch.autograd.grad(sum(v.sum() for v in views), params)
    for grad, mask in zip(grads, masks, strict=True):
        assert_close(grad, mask)
    drop = WeightDrop(0.5)
    torch.manual_seed(3)
    out, _ = drop(lstm, torch.randn(4, 2, D))  # the kernel accepts the rebuilt buffer
    assert out.shape == (4, 2, H)


def test_names_select_the_parameters():
    cell = LSTMCell(D, H)
    drop = WeightDrop(0.5, names=["weight_ih", "bias_*"])
    assert sorted(drop.dropped(cell)) == ["bias_hh", "bias_ih", "weight_ih"]
    with pytest.raises(ValueError, match="match no parameter of LSTMCell"):
        WeightDrop(0.5, names="kernel").dropped(cell)
    with pytest.raises(ValueError, match="names must be non-empty strings, got \\(\\)"):
        WeightDrop(0.5, names=())
    with pytest.raises(ValueError, match="p must be a probability in \\[0, 1\\), got 2"):
        WeightDrop(2)


def test_eval_and_zero_leave_the_weights():
    cell = LSTMCell(D, H)
    assert WeightDrop(0.5).eval().dropped(cell) == {}
    assert WeightDrop(0.0).dropped(cell) == {}
    layer = Recurrent(cell, weight_drop=0.5).eval()
    x = torch.randn(4, 2, D)
    assert_close(layer(x)[0], twin_with(cell)(x)[0])
