"""rnnkit.layers.LSTM/GRU/RNN against torch.nn.LSTM/GRU/RNN: native and generic paths."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from rnnkit import layers

D, H = 3, 4
KINDS = ["LSTM", "GRU", "RNN"]
LENGTHS = torch.tensor([5, 2, 4])


def pair(kind: str, **options):
    """(rnnkit module, torch twin) with the same state dict."""
    torch_options = {k: v for k, v in options.items() if k in TORCH_ARGS}
    torch.manual_seed(0)
    twin = getattr(nn, kind)(D, H, **torch_options)
    mine = getattr(layers, kind)(D, H, **options)
    mine.load_state_dict(twin.state_dict())
    return mine, twin


TORCH_ARGS = {
    "num_layers",
    "bidirectional",
    "batch_first",
    "dropout",
    "bias",
    "proj_size",
    "nonlinearity",
}


def hidden_like(kind: str, twin: nn.RNNBase, batch: int):
    dirs = 2 if twin.bidirectional else 1
    h0 = torch.randn(twin.num_layers * dirs, batch, H, requires_grad=True)
    return (h0, torch.randn_like(h0, requires_grad=True)) if kind == "LSTM" else h0


def flat(hidden) -> list[torch.Tensor]:
    if hidden is None:
        return []
    return list(hidden) if isinstance(hidden, tuple) else [hidden]


def check_same(mine, twin, x, hx):
    """Outputs, final states and the gradients of x, hx and every parameter agree."""
    out, hidden = mine(x, hx)
    ref_out, ref_hidden = twin(x, hx)
    assert_close(out, ref_out)
    for got, want in zip(flat(hidden), flat(ref_hidden), strict=True):
        assert_close(got, want)
    loss = out.square().sum() + sum(t.sum() for t in flat(hidden))
    ref_loss = ref_out.square().sum() + sum(t.sum() for t in flat(ref_hidden))
    grads = torch.autograd.grad(loss, [x, *flat(hx), *mine.parameters()])
    ref_grads = torch.autograd.grad(ref_loss, [x, *flat(hx), *twin.parameters()])
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want)


@pytest.mark.parametrize("generic", [False, True], ids=["native", "generic"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tb", "bt"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_equals_torch(kind, num_layers, bidirectional, batch_first, generic):
    mine, twin = pair(
        kind,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        force_generic=generic,
    )
    assert mine._generic_now() is generic
    x = torch.randn(2, 5, D, requires_grad=True)  # (B, T) or (T, B)
    hx = hidden_like(kind, twin, 2 if batch_first else 5)
    check_same(mine, twin, x, hx)
    check_same(mine, twin, x, None)


@pytest.mark.parametrize("generic", [False, True], ids=["native", "generic"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tb", "bt"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_lengths_and_packing_equal_torch_packed(kind, bidirectional, batch_first, generic):
    mine, twin = pair(
        kind,
        num_layers=2,
        bidirectional=bidirectional,
        batch_first=batch_first,
        force_generic=generic,
    )
    x = torch.randn(3, 5, D) if batch_first else torch.randn(5, 3, D)
    x.requires_grad_()
    hx = hidden_like(kind, twin, 3)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    ref_packed, ref_hidden = twin(packed, hx)
    out_packed, hidden = mine(packed, hx)
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(out_packed, name), getattr(ref_packed, name))
    assert_close(out_packed.data, ref_packed.data)
    for got, want in zip(flat(hidden), flat(ref_hidden), strict=True):
        assert_close(got, want)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first, total_length=5)
    out, hidden = mine(x, hx, lengths=LENGTHS)
    assert_close(out, ref_out)
    for got, want in zip(flat(hidden), flat(ref_hidden), strict=True):
        assert_close(got, want)
    grad = torch.autograd.grad(out.square().sum() + flat(hidden)[0].sum(), [x, *mine.parameters()])
    ref_loss = ref_out.square().sum() + flat(ref_hidden)[0].sum()
    ref_grad = torch.autograd.grad(ref_loss, [x, *twin.parameters()])
    for got, want in zip(grad, ref_grad, strict=True):
        assert_close(got, want)


def test_relu_rnn_generic_equals_torch():
    mine, twin = pair("RNN", num_layers=2, nonlinearity="relu", force_generic=True)
    check_same(mine, twin, torch.randn(5, 3, D, requires_grad=True), None)


@pytest.mark.parametrize("kind", KINDS)
def test_without_bias_generic_equals_torch(kind):
    mine, twin = pair(kind, num_layers=2, bias=False, bidirectional=True, force_generic=True)
    assert list(mine.state_dict()) == list(twin.state_dict())
    check_same(mine, twin, torch.randn(5, 3, D, requires_grad=True), None)


@pytest.mark.parametrize("generic", [False, True], ids=["native", "generic"])
def test_unbatched_input(generic):
    mine, twin = pair("LSTM", num_layers=2, force_generic=generic)
    x = torch.randn(5, D)
    hx = (torch.randn(2, H), torch.randn(2, H))
    out, (h, c) = mine(x, hx)
    ref_out, (ref_h, ref_c) = twin(x, hx)
    assert_close(out, ref_out)
    assert_close(h, ref_h)
    assert_close(c, ref_c)


def test_state_dict_is_torchs_with_any_regularizer():
    mine = layers.LSTM(
        D,
        H,
        num_layers=2,
        bidirectional=True,
        zoneout=(0.1, 0.2),
        recurrent_dropout=0.2,
        variational_dropout=0.3,
        weight_drop=0.4,
    )
    twin = nn.LSTM(D, H, num_layers=2, bidirectional=True)
    assert list(mine.state_dict()) == list(twin.state_dict())
    twin.load_state_dict(mine.state_dict(), strict=True)
    mine.load_state_dict(twin.state_dict(), strict=True)


@pytest.mark.parametrize("kind", KINDS)
def test_dropouts_are_off_in_eval(kind):
    extra = {} if kind == "RNN" else {"recurrent_dropout": 0.5}
    mine, twin = pair(
        kind, num_layers=2, variational_dropout=0.5, weight_drop=0.5, dropout=0.5, **extra
    )
    mine.eval()
    twin.eval()
    assert not mine._generic_now()
    x = torch.randn(5, 3, D)
    assert_close(mine(x)[0], twin(x)[0])
    mine.train()
    assert mine._generic_now()
    torch.manual_seed(3)
    first = mine(x)[0]
    torch.manual_seed(3)
    assert torch.equal(mine(x)[0], first)
    assert not torch.allclose(first, twin(x)[0])


def lstm_cells_like(twin: nn.LSTM) -> list[nn.LSTMCell]:
    cells = []
    for k in range(twin.num_layers):
        cell = nn.LSTMCell(D if k == 0 else H, H)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(twin, f"{name}_l{k}"))
        cells.append(cell)
    return cells


def test_zoneout_eval_is_the_expectation_on_every_layer():
    p, p_c = 0.3, 0.6
    mine, twin = pair("LSTM", num_layers=2, zoneout=(p, p_c))
    mine.eval()
    x = torch.randn(5, 2, D)
    out, (h_n, c_n) = mine(x)
    inputs = x
    for k, cell in enumerate(lstm_cells_like(twin)):
        h, c, outs = torch.zeros(2, H), torch.zeros(2, H), []
        for x_t in inputs:
            h_new, c_new = cell(x_t, (h, c))
            h, c = p * h + (1 - p) * h_new, p_c * c + (1 - p_c) * c_new
            outs.append(h)
        inputs = torch.stack(outs)
        assert_close(h_n[k], h)
        assert_close(c_n[k], c)
    assert_close(out, inputs)


@pytest.mark.parametrize("generic", [False, True], ids=["native", "generic"])
def test_weight_drop_uses_one_mask_per_batch_on_weight_hh(generic):
    mine, twin = pair("LSTM", num_layers=2, weight_drop=0.5, force_generic=generic)
    x = torch.randn(6, 3, D)
    torch.manual_seed(1)
    out = mine(x)[0]
    masks = dict(mine.weight_drop.masks)
    assert sorted(masks) == ["weight_hh_l0", "weight_hh_l1"]
    with torch.no_grad():
        for name, mask in masks.items():
            getattr(twin, name).mul_(mask)  # the same dropped matrix at every step
    assert_close(out, twin(x)[0])
    grad = torch.autograd.grad(out.sum(), mine.weight_hh_l1)[0]
    ref_grad = torch.autograd.grad(twin(x)[0].sum(), twin.weight_hh_l1)[0]
    assert_close(grad, ref_grad * masks["weight_hh_l1"])
    mine(x)
    assert not torch.equal(mine.weight_drop.masks["weight_hh_l0"], masks["weight_hh_l0"])


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_weight_drop_with_proj_size_runs_natively():
    mine, twin = pair("LSTM", proj_size=2, weight_drop=0.5)
    mine.eval()
    x = torch.randn(4, 2, D)
    assert_close(mine(x)[0], twin(x)[0])
    assert mine.train()(x)[0].shape == (4, 2, 2)


def test_residual_and_merge_equal_hand_wired_torch_layers():
    mine = layers.LSTM(D, H, num_layers=2, bidirectional=True, merge="sum", residual=True)
    assert mine.weight_ih_l1.shape == (4 * H, H)
    assert mine.weight_ih_l1_reverse.shape == (4 * H, H)
    first, second = nn.LSTM(D, H, bidirectional=True), nn.LSTM(H, H, bidirectional=True)
    state = mine.state_dict()
    first.load_state_dict({k: v for k, v in state.items() if "_l0" in k})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if "_l1" in k})
    x = torch.randn(5, 2, D)
    y0 = first(x)[0]
    y0 = y0[..., :H] + y0[..., H:]
    y1 = second(y0)[0]
    y1 = y1[..., :H] + y1[..., H:] + y0
    out, (h_n, _) = mine(x)
    assert_close(out, y1)
    assert h_n.shape == (4, 2, H)


def test_custom_cell_keys_and_values():
    from rnnkit.cells.layer_norm_lstm import LayerNormLSTMCell
    from rnnkit.layers import Recurrent

    mine = layers.LSTM(D, H, bidirectional=True, cell=LayerNormLSTMCell)
    keys = list(mine.state_dict())
    assert "bias_l0_reverse" in keys and "norm_ih_weight_l0" in keys and "norm_c_bias_l0" in keys
    assert "bias_ih_l0" not in keys and "weight_hh_l0_reverse" in keys
    assert sum(p.numel() for p in mine.parameters()) == 2 * LayerNormLSTMCell(D, H).num_parameters()
    with torch.no_grad():
        for p in mine.parameters():
            p.add_(0.1 * torch.randn_like(p))
    cell = LayerNormLSTMCell(D, H)
    cell.load_state_dict(
        {
            name: mine.state_dict()[name.replace(".", "_") + "_l0_reverse"]
            for name in cell.state_dict()
        }
    )
    x = torch.randn(5, 2, D)
    out, (h_n, c_n) = mine(x, lengths=[5, 3])
    ref_out, ref_state = Recurrent(cell, reverse=True)(x, lengths=[5, 3])
    assert_close(out[..., H:], ref_out)
    assert_close(h_n[1], ref_state.h)
    assert_close(c_n[1], ref_state.c)


def test_cell_with_buffers_and_a_factory():
    import functools

    from rnnkit.cells.batch_norm_lstm import BatchNormLSTMCell
    from rnnkit.cells.gru import GRUCell

    mine = layers.LSTM(D, H, cell=functools.partial(BatchNormLSTMCell, max_length=7))
    assert mine.state_dict()["running_mean_ih_l0"].shape == (7, 4 * H)
    out, (h_n, c_n) = mine(torch.randn(5, 2, D))
    assert out.shape == (5, 2, H) and h_n.shape == c_n.shape == (1, 2, H)
    assert_close(h_n[0], out[-1])
    gru = layers.GRU(D, H, cell=functools.partial(GRUCell, reset_after=False))
    assert list(gru.state_dict()) == list(nn.GRU(D, H).state_dict())


def test_conversion_and_copies_keep_the_paths_equal():
    mine, twin = pair("GRU", num_layers=2, zoneout=0.0, force_generic=True)
    mine, twin = mine.double(), twin.double()
    x = torch.randn(4, 2, D, dtype=torch.float64)
    assert_close(mine(x)[0], twin(x)[0])
    clone = copy.deepcopy(mine)
    with torch.no_grad():
        clone.weight_hh_l1.zero_()
    assert_close(mine(x)[0], twin(x)[0])
    assert not torch.allclose(clone(x)[0], twin(x)[0])


def test_options_are_validated():
    with pytest.raises(ValueError, match="zoneout must be in \\[0.0, 1.0\\), got 1.2"):
        layers.LSTM(D, H, zoneout=1.2)
    with pytest.raises(ValueError, match="zoneout must be a probability, got \\(0.1, 0.2\\)"):
        layers.GRU(D, H, zoneout=(0.1, 0.2))
    with pytest.raises(ValueError, match="weight_drop must be in \\[0.0, 1.0\\), got -0.5"):
        layers.LSTM(D, H, weight_drop=-0.5)
    with pytest.raises(ValueError, match="merge='sum' needs bidirectional=True"):
        layers.LSTM(D, H, merge="sum")
    with pytest.raises(ValueError, match="merge must be one of"):
        layers.LSTM(D, H, bidirectional=True, merge="max")
    with pytest.raises(ValueError, match="proj_size=2 runs only on the native kernel"):
        layers.LSTM(D, H, proj_size=2, zoneout=0.1)
    with pytest.raises(ValueError, match="no candidate"):
        layers.RNN(D, H, recurrent_dropout=0.1)
    with pytest.raises(ValueError, match="residual must be True or False, got 1"):
        layers.GRU(D, H, residual=1)
    with pytest.raises(ValueError, match="single tensor"):
        from rnnkit.cells.gru import GRUCell

        layers.LSTM(D, H, cell=GRUCell)
    with pytest.raises(ValueError, match="pass lengths or a PackedSequence"):
        packed = pack_padded_sequence(torch.randn(5, 3, D), LENGTHS, enforce_sorted=False)
        layers.LSTM(D, H)(packed, lengths=LENGTHS)
