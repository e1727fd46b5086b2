"""Cell activations from rnnkit's unrolled loop, against the native kernel and torch's equations."""

import pytest
import torch

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.viz.activations import cell_activations

V, H, T = 11, 6, 9


def model_of(cell: str, **extra) -> LanguageModel:
    torch.manual_seed(0)
    config = LanguageModelConfig(
        V, cell=cell, hidden_size=H, num_layers=2, embedding_size=5, **extra
    )
    model = LanguageModel(config).double()
    with torch.no_grad():  # spread the weights so that gates saturate somewhere
        for p in model.rnn.parameters():
            p.mul_(3.0)
    return model.eval()


def native_states(model: LanguageModel, ids: torch.Tensor) -> list:
    """The native kernel stepped one token at a time: its full state after every position."""
    x, state, states = model.embedding(ids)[None], None, []
    with torch.no_grad():
        for t in range(len(ids)):
            _, state = model.rnn(x[:, t : t + 1], state)
            states.append(state)
    return states


def ids_of(seed: int = 1) -> torch.Tensor:
    return torch.randint(V, (T,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_unrolled_h_and_c_equal_the_native_kernel_at_every_step(cell):
    model, ids = model_of(cell), ids_of()
    acts = cell_activations(model, ids)
    for t, state in enumerate(native_states(model, ids)):
        h_n = state[0] if cell == "lstm" else state  # (L, 1, H)
        torch.testing.assert_close(acts.h[:, t], h_n[:, 0])
        if cell == "lstm":
            torch.testing.assert_close(acts.cell[:, t], state[1][:, 0].tanh())
    assert (acts.cell is None) == (cell != "lstm")
    assert acts.h.shape == (2, T, H)


def test_lstm_gates_match_torch_nn_lstm_equations_by_hand():
    model, ids = model_of("lstm"), ids_of()
    acts = cell_activations(model, ids)
    states = native_states(model, ids)
    x = model.embedding(ids).detach()  # (T, E)
    for k in range(2):
        W_i, W_h = getattr(model.rnn, f"weight_ih_l{k}"), getattr(model.rnn, f"weight_hh_l{k}")
        b_i, b_h = getattr(model.rnn, f"bias_ih_l{k}"), getattr(model.rnn, f"bias_hh_l{k}")
        for t in range(T):
            h_prev = states[t - 1][0][k, 0] if t else torch.zeros(H, dtype=torch.float64)
            inp = x[t] if k == 0 else states[t][0][0, 0]
            for name, rows in (("input", 0), ("forget", 1), ("output", 3)):
                s = slice(rows * H, (rows + 1) * H)
                want = torch.sigmoid(W_i[s] @ inp + b_i[s] + W_h[s] @ h_prev + b_h[s])
                torch.testing.assert_close(acts.gates[name][k, t], want.detach())
    saturated = (acts.gates["forget"] < 0.1) | (acts.gates["forget"] > 0.9)
    assert saturated.any() and not saturated.all()  # the check sees both regimes


def test_gru_gates_match_torch_nn_gru_equations_by_hand():
    model, ids = model_of("gru"), ids_of()
    acts = cell_activations(model, ids)
    states = native_states(model, ids)
    x = model.embedding(ids).detach()
    for k in range(2):
        W_i, W_h = getattr(model.rnn, f"weight_ih_l{k}"), getattr(model.rnn, f"weight_hh_l{k}")
        b_i, b_h = getattr(model.rnn, f"bias_ih_l{k}"), getattr(model.rnn, f"bias_hh_l{k}")
        for t in range(T):
            h_prev = states[t - 1][k, 0] if t else torch.zeros(H, dtype=torch.float64)
            inp = x[t] if k == 0 else states[t][0, 0]
            for name, rows in (("reset", 0), ("update", 1)):
                s = slice(rows * H, (rows + 1) * H)
                want = torch.sigmoid(W_i[s] @ inp + b_i[s] + W_h[s] @ h_prev + b_h[s])
                torch.testing.assert_close(acts.gates[name][k, t], want.detach())
    assert set(cell_activations(model_of("rnn"), ids).gates) == set()


def test_next_probs_are_the_softmax_of_the_top_layer_projection():
    model, ids = model_of("lstm"), ids_of()
    acts = cell_activations(model, ids)
    want = model.proj(acts.h[-1]).softmax(-1)
    torch.testing.assert_close(acts.next_probs, want.detach())
    torch.testing.assert_close(acts.next_probs.sum(-1), torch.ones(T, dtype=torch.float64))


def test_a_carried_state_continues_the_text():
    model, ids = model_of("lstm"), ids_of()
    whole = cell_activations(model, ids)
    first = cell_activations(model, ids[:4])
    rest = cell_activations(model, ids[4:], first.state)
    torch.testing.assert_close(torch.cat([first.h, rest.h], 1), whole.h)
    torch.testing.assert_close(torch.cat([first.cell, rest.cell], 1), whole.cell)
    torch.testing.assert_close(rest.gates["forget"], whole.gates["forget"][:, 4:])


def test_zoneout_models_match_their_own_generic_path_in_eval():
    model, ids = model_of("lstm", zoneout=0.3), ids_of()
    acts = cell_activations(model, ids)
    with torch.no_grad():
        out, (_, c_n) = model.rnn(model.embedding(ids)[None])
    torch.testing.assert_close(acts.h[-1], out[0])
    torch.testing.assert_close(acts.cell[:, -1], c_n[:, 0].tanh())


def test_mode_is_kept_and_bad_ids_are_one_line_errors():
    model = model_of("gru").train()
    cell_activations(model, ids_of())
    assert model.training
    with pytest.raises(ValueError, match=r"ids must be in \[0, 11\)"):
        cell_activations(model, torch.tensor([1, 11]))
    with pytest.raises(ValueError, match="1-D LongTensor"):
        cell_activations(model, torch.zeros(2, 3, dtype=torch.long))
