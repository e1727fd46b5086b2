"""The attention decoder cell against torch's cells + the docstring's formula, and in layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.cells import (
    AttentionDecoderCell,
    AttentionState,
    GRUCell,
    LSTMCell,
    LSTMState,
    SimpleRNNCell,
    flatten_state,
    reorder_state,
)
from rnnkit.layers import Attention, Recurrent

B, T, S, D, H, DK = 3, 6, 5, 4, 5, 6
SOURCE_LENGTHS = torch.tensor([S, 2, 4])


def make_decoder(*, kind: str = "general", input_feeding: bool = True, gru: bool = False):
    inner_input = D + H if input_feeding else D
    cell = GRUCell(inner_input, H) if gru else LSTMCell(inner_input, H)
    return AttentionDecoderCell(cell, Attention(H, DK, kind=kind), input_feeding=input_feeding)


def source(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """memory (B, S, Dk) and mask (B, S), True at real positions."""
    mask = torch.arange(S) < SOURCE_LENGTHS.unsqueeze(1)
    return torch.randn(B, S, DK, dtype=dtype), mask


def reference_step(decoder, torch_cell, x, h_tilde, inner, memory, mask):
    """The docstring's equations with torch's own cell and plain tensor ops (general score)."""
    x_in = torch.cat([x, h_tilde], -1) if decoder.input_feeding else x  # x'_t
    inner = torch_cell(x_in, inner)
    h = inner[0] if isinstance(inner, tuple) else inner  # h_t
    W = decoder.attention.key_proj.weight  # (H, Dk)
    score = torch.einsum("bh,hk,bsk->bs", h, W, memory)
    e = torch.where(mask, torch.exp(score - score.max(-1, keepdim=True).values), 0.0)
    a = e / e.sum(-1, keepdim=True)  # a_t
    c = torch.einsum("bs,bsk->bk", a, memory)  # c_t
    W_c = decoder.linear_out.weight  # (H, Dk + H): columns (c | h)
    h_tilde = torch.tanh(c @ W_c[:, :DK].T + h @ W_c[:, DK:].T)
    return h_tilde, inner, a


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("gru", [False, True])
def test_steps_match_torch_cell_and_formula(input_feeding, gru):
    torch.manual_seed(0)
    decoder = make_decoder(input_feeding=input_feeding, gru=gru)
    torch_type = nn.GRUCell if gru else nn.LSTMCell
    torch_cell = torch_type(decoder.cell.input_size, H)
    torch_cell.load_state_dict(decoder.cell.state_dict())
    memory, mask = source()
    h0 = torch.randn(B, H)
    start_inner = h0 if gru else LSTMState(h0, torch.randn(B, H))
    state = decoder.start(memory, mask, start_inner)
    h_tilde, inner = torch.zeros(B, H), start_inner if gru else tuple(start_inner)
    with torch.no_grad():
        for x in torch.randn(3, B, D):
            out, state = decoder(x, state)
            h_tilde, inner, a = reference_step(decoder, torch_cell, x, h_tilde, inner, memory, mask)
            torch.testing.assert_close(out, h_tilde)
            torch.testing.assert_close(state.output, h_tilde)
            torch.testing.assert_close(state.weights, a)
            torch.testing.assert_close(tuple(state.inner) if not gru else state.inner, inner)
    assert decoder.input_size == D and decoder.hidden_size == H


def step_loop(decoder, xs, state):
    """A plain Python loop of ``decoder.step``: (T, B, D) -> (T, B, H), final state."""
    outputs = []
    for x in xs:
        out, state = decoder.step(decoder.project_input(x), state)
        outputs.append(out)
    return torch.stack(outputs), state


def assert_states_close(got, expected):
    torch.testing.assert_close(flatten_state(got)[0], flatten_state(expected)[0])


def test_recurrent_equals_step_loop_with_lengths():
    torch.manual_seed(1)
    decoder = make_decoder(kind="additive")
    memory, mask = source()
    y = torch.randn(B, T, D)
    lengths = torch.tensor([T, 3, 1])
    output, final = Recurrent(decoder, batch_first=True)(
        y, decoder.start(memory, mask), lengths=lengths
    )
    full, _ = step_loop(decoder, y.transpose(0, 1), decoder.start(memory, mask))
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(output[b, :n], full[:n, b])
        assert torch.count_nonzero(output[b, n:]) == 0
        alone = decoder.start(memory[b : b + 1], mask[b : b + 1])
        _, alone_final = step_loop(decoder, y[b : b + 1, :n].transpose(0, 1), alone)
        assert_states_close(reorder_state(final, torch.tensor([b])), alone_final)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_padded_target_batch_equals_each_sequence_alone(reverse):
    """What tests/layers/test_padding.py checks for every cell built from (D, H)."""
    torch.manual_seed(6)
    decoder = make_decoder(gru=True).double()
    layer = Recurrent(decoder, reverse=reverse)
    memory, mask = source(torch.float64)
    lengths = [T, 2, 4]
    y = torch.randn(T, B, D, dtype=torch.float64)
    for b, n in enumerate(lengths):
        y[n:, b] = 50 * torch.randn_like(y[n:, b])  # a leak would show
    output, final = layer(y, decoder.start(memory, mask), lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone, alone_final = layer(
            y[:n, b : b + 1], decoder.start(memory[b : b + 1], mask[b : b + 1])
        )
        torch.testing.assert_close(output[:n, b : b + 1], alone)
        assert torch.count_nonzero(output[n:, b]) == 0
        assert_states_close(reorder_state(final, torch.tensor([b])), alone_final)


def test_padded_memory_decodes_like_the_unpadded_one():
    torch.manual_seed(2)
    decoder = make_decoder()
    memory, mask = source()
    memory = torch.where(mask.unsqueeze(-1), memory, 1e3 * torch.randn_like(memory))  # junk pad
    y = torch.randn(T, B, D)
    layer = Recurrent(decoder)
    output, final = layer(y, decoder.start(memory, mask))
    n = int(SOURCE_LENGTHS[1])
    alone, alone_final = layer(y[:, 1:2], decoder.start(memory[1:2, :n]))  # no mask needed
    torch.testing.assert_close(output[:, 1:2], alone)
    torch.testing.assert_close(final.weights[1:2, :n], alone_final.weights)
    assert torch.all(final.weights[1, n:] == 0)


def test_gradcheck_three_steps():
    """float64, w.r.t. the inputs, the memory, every initial-state field and every parameter."""
    torch.manual_seed(3)
    Dx, Hs, Dk = 2, 3, 2
    decoder = AttentionDecoderCell(LSTMCell(Dx + Hs, Hs), Attention(Hs, Dk, kind="additive"))
    decoder = decoder.double()
    names = [n for n, _ in decoder.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in decoder.parameters()]
    mask = torch.tensor([[True, True, True], [True, True, False]])

    def run(xs, memory, h_tilde, h, c, *weights):
        state = decoder.start(memory, mask, LSTMState(h, c))._replace(output=h_tilde)
        outs = []
        for x in xs:
            out, state = functional_call(
                decoder, dict(zip(names, weights, strict=True)), (x, state)
            )
            outs.append(out)
        return torch.stack(outs), state.inner.h, state.inner.c, state.weights

    def rand(*shape):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    inputs = (rand(3, 2, Dx), rand(2, 3, Dk), rand(2, Hs), rand(2, Hs), rand(2, Hs))
    assert torch.autograd.gradcheck(run, (*inputs, *params))


def test_reorder_state_picks_rows_of_every_field():
    torch.manual_seed(4)
    decoder = make_decoder()
    memory, mask = source()
    _, state = Recurrent(decoder)(torch.randn(2, B, D), decoder.start(memory, mask))
    index = torch.tensor([2, 0, 0, 1])
    reordered = reorder_state(state, index)
    assert isinstance(reordered, AttentionState) and isinstance(reordered.inner, LSTMState)
    for got, field in zip(flatten_state(reordered)[0], flatten_state(state)[0], strict=True):
        assert torch.equal(got, field[index])
    x = torch.randn(B, D)
    out, _ = decoder(x, state)
    out_reordered, _ = decoder(x[index], reordered)
    torch.testing.assert_close(out_reordered, out[index])


@pytest.mark.parametrize("kind", ["general", "additive"])
def test_memory_held_per_example_steps_like_its_rows(kind):
    """Beam search's layout: K rows per example read one memory; same numbers as K copies."""
    torch.manual_seed(6)
    k = 3
    decoder = make_decoder(kind=kind)
    memory, mask = source(torch.float64)
    decoder.double()
    expand = torch.arange(B).repeat_interleave(k)  # (B*K,) one example to K rows
    parents = torch.tensor([1, 1, 0, 5, 3, 3, 8, 6, 7])  # each row's parent, in its example
    rows = reorder_state(decoder.start(memory, mask), expand)
    shared = reorder_state(decoder.start(memory, mask).shared(), expand)
    assert shared.values.tensor.shape == (B, S, H) and shared.values.group == k
    for _ in range(3):
        x = torch.randn(B * k, D, dtype=torch.float64)
        out_rows, rows = decoder(x, rows)
        out_shared, shared = decoder(x, shared)
        torch.testing.assert_close(out_shared, out_rows, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(shared.weights, rows.weights, rtol=1e-12, atol=1e-12)
        rows, shared = reorder_state(rows, parents), reorder_state(shared, parents)
    assert shared.values.tensor.shape[0] == B  # still one memory per example


def test_memory_keys_and_mask_are_held_per_example_together():
    decoder = make_decoder()
    state = decoder.start(*source()).shared()
    with pytest.raises(ValueError, match="shared"):
        decoder(torch.randn(B, D), state._replace(mask=state.mask.rows()))


def test_regularizers_and_checkpointing_run_through_the_generic_loop():
    torch.manual_seed(5)
    decoder = make_decoder()
    memory, mask = source()
    y = torch.randn(T, B, D)
    layer = Recurrent(
        decoder, recurrent_dropout=0.3, zoneout=0.1, state_dropout=0.2, weight_drop=0.3
    )
    assert decoder.cell.candidate_dropout is layer.cell.candidate_dropout is not None
    output, _ = layer(y, decoder.start(memory, mask))
    assert decoder.cell.candidate_dropout.mask is not None  # drawn on the wrapped LSTM
    output.sum().backward()
    # checkpointing recomputes exactly (eval: no random masks)
    decoder.eval()
    plain, checkpointed = Recurrent(decoder), Recurrent(decoder, checkpoint_every=2)
    results = []
    for layer in (plain, checkpointed):
        decoder.zero_grad()
        memory_leaf = memory.clone().requires_grad_()
        output, _ = layer(y, decoder.start(memory_leaf, mask), lengths=[T, 4, 3])
        output.square().sum().backward()
        results.append([output, memory_leaf.grad] + [p.grad for p in decoder.parameters()])
    torch.testing.assert_close(results[1], results[0])


def test_start_defaults_and_num_parameters():
    decoder = make_decoder(kind="additive")
    memory, _ = source()
    state = decoder.start(memory)
    assert state.mask.dtype == torch.bool and state.mask.all()
    assert torch.equal(state.output, torch.zeros(B, H)) and torch.equal(
        state.weights, torch.zeros(B, S)
    )
    assert torch.equal(state.inner.c, torch.zeros(B, H))
    assert decoder.num_parameters() == sum(p.numel() for p in decoder.parameters())


def test_no_state_without_memory():
    decoder = make_decoder()
    with pytest.raises(ValueError, match=r"start\(memory, mask\)"):
        decoder.initial_state(B)
    with pytest.raises(ValueError, match=r"start\(memory, mask\)"):
        Recurrent(decoder)(torch.randn(T, B, D))


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: AttentionDecoderCell(nn.LSTMCell(D + H, H), Attention(H, DK)), "RecurrentCell"),
        (lambda: AttentionDecoderCell(LSTMCell(D + H, H), nn.Linear(H, DK)), "Attention"),
        (lambda: AttentionDecoderCell(LSTMCell(D + H, H), Attention(H + 1, DK)), "query_size"),
        (lambda: AttentionDecoderCell(LSTMCell(H, H), Attention(H, DK)), "input_size=5"),
        (
            lambda: AttentionDecoderCell(LSTMCell(D, H), Attention(H, DK), input_feeding=1),
            "input_feeding",
        ),
    ],
)
def test_bad_construction(build, words):
    with pytest.raises(ValueError, match=words) as error:
        build()
    assert "\n" not in str(error.value)


def test_bad_memory_and_mask():
    decoder = AttentionDecoderCell(SimpleRNNCell(D, H), Attention(H, DK), input_feeding=False)
    with pytest.raises(ValueError, match=r"memory must be \(B, S, 6\)"):
        decoder.start(torch.randn(B, S, DK + 1))
    with pytest.raises(ValueError, match="mask must be bool"):
        decoder.start(torch.randn(B, S, DK), torch.ones(B, S))
