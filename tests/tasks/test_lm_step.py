"""The fast LM step against the model's own step (torch's LSTM/GRU/RNN kernel, same weights)."""

from functools import partial

import pytest
import torch

from rnnkit.cells.state import reorder_state
from rnnkit.decoding import beam_search, greedy, sample_sequence
from rnnkit.tasks import lm_step as lm_step_module
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm_step import PROBE_STEPS, LMStep, generation_threads, lm_step

CELLS = ("lstm", "gru", "rnn")


def make_model(cell: str = "lstm", *, vocab: int = 23, hidden: int = 16, **kw) -> LanguageModel:
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab, cell=cell, hidden_size=hidden, num_layers=2, **kw)
    model = LanguageModel(config).eval()
    with torch.no_grad():  # larger weights than the default init: peakier, more varied outputs
        for p in model.parameters():
            p.mul_(3.0)
    return model


def teacher_forced(step, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) tokens -> (B, T, V) log-probs of ``step``, the state carried."""
    state, out = None, []
    for t in range(tokens.shape[1]):
        log_probs, state = step(tokens[:, t], state)
        out.append(log_probs)
    return torch.stack(out, 1)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("hoisted", [True, False])
def test_log_probs_equal_the_model_step(cell, batch, hoisted, monkeypatch):
    if not hoisted:  # the first layer multiplies the embedding as the model does
        monkeypatch.setattr(lm_step_module, "TABLE_BYTES", 0)
    model = make_model(cell)
    fast = LMStep(model)
    assert (fast.table is not None) == hoisted
    tokens = torch.randint(0, 23, (batch, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = teacher_forced(model.step, tokens)
        torch.testing.assert_close(teacher_forced(fast, tokens), expected, rtol=1e-5, atol=1e-5)
        logits, _ = model(tokens)  # the whole sequence through the module, at once
    torch.testing.assert_close(expected, logits.log_softmax(-1), rtol=1e-5, atol=1e-5)


def test_table_is_the_first_layers_input_projection():
    model = make_model("gru")
    fast = LMStep(model)
    w, b = model.rnn.weight_ih_l0, model.rnn.bias_ih_l0
    for v in (0, 7, 22):  # one symbol at a time, by hand
        row = model.embedding.weight[v] @ w.T + b
        torch.testing.assert_close(fast.table[v], row.detach())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, None, None), (0.7, None, None), (1.5, 5, None), (0.9, None, 0.8), (0.0, None, None)],
)
def test_same_samples_as_the_model_step_for_the_same_seed(cell, batch, temperature, top_k, top_p):
    # Float rounding could in principle flip a draw that falls on a boundary between two
    # tokens; the log-probs agree to ~1e-6 (test above), and on these seeds no draw flips.
    model = make_model(cell)
    prime = torch.randint(0, 23, (batch, 3), generator=torch.Generator().manual_seed(2))
    options = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    step = lm_step(model)
    assert isinstance(step, LMStep)
    for seed in range(2):
        ours, before = (
            sample_sequence(s, prime, 50, generator=torch.Generator().manual_seed(seed), **options)
            for s in (step, model.step)
        )
        assert torch.equal(ours, before)
        if temperature:  # draws, not one token over and over
            assert len(set(ours.flatten().tolist())) > 5


def test_state_reorders_on_batch_dim_0_for_greedy_and_beam_search():
    model = make_model("lstm", vocab=6, hidden=8)
    fast = lm_step(model)
    torch_layout = partial(reorder_state, batch_dim=1)  # model.step's (L, B, H) state
    rows = torch.tensor([2, 3, 4, 5])  # a different state in every row
    with torch.no_grad():
        ours_state, theirs_state = fast(rows, None)[1], model.step(rows, None)[1]
    mixed = 0
    for eos in range(6):  # every eos: rows end at different steps, the others are reordered
        common = {"batch_size": 4, "bos": 1, "eos": eos, "max_length": 10}
        ours = greedy(fast, ours_state, **common)
        theirs = greedy(model.step, theirs_state, reorder=torch_layout, **common)
        assert [h.tokens for h in ours] == [h.tokens for h in theirs]
        mixed += len({h.finished for h in ours}) == 2
        ours = beam_search(fast, ours_state, beam_size=3, n_best=2, **common)
        theirs = beam_search(
            model.step, theirs_state, beam_size=3, n_best=2, reorder=torch_layout, **common
        )
        assert [[h.tokens for h in n] for n in ours] == [[h.tokens for h in n] for n in theirs]
        flat = [[h for n in hyps for h in n] for hyps in (ours, theirs)]
        for a, b in zip(*flat, strict=True):
            assert a.log_prob == pytest.approx(b.log_prob, abs=1e-4)
    assert mixed  # some row left the batch while others went on


@pytest.mark.parametrize(
    ("why", "kw"),
    [("zoneout runs rnnkit's loop", {"zoneout": 0.1}), ("training mode", {})],
)
def test_falls_back_to_the_model_step(why, kw):
    model = make_model(**kw)
    if not kw:
        model.train()
    assert not LMStep.applies(model), why
    assert lm_step(model) == model.step


def test_weight_drop_in_eval_takes_the_fast_step():
    model = make_model(weight_drop=0.5)  # eval: the weights unchanged
    assert isinstance(lm_step(model), LMStep)


class Scaled(LanguageModel):
    """An LM whose forward does more than embedding -> stack -> proj: a step must notice."""

    def forward(self, tokens, state=None):
        logits, state = super().forward(tokens, state)
        return 2.0 * logits, state


def test_a_model_that_computes_something_else_fails_the_probe():
    torch.manual_seed(0)
    model = Scaled(LanguageModelConfig(23, hidden_size=16, num_layers=2)).eval()
    assert LMStep.applies(model)  # the structure looks the same...
    assert not LMStep(model).agrees_with(model.step)  # ...the values do not
    assert lm_step(model) == model.step


@pytest.mark.parametrize("wrong_at", range(PROBE_STEPS))
def test_the_probe_compares_every_step(wrong_at):
    model = make_model()
    calls = []

    def off_at_one_step(tokens, state):  # model.step, off by 0.01 at one step only
        log_probs, state = model.step(tokens, state)
        calls.append(len(calls))
        return log_probs + (0.01 if calls[-1] == wrong_at else 0.0), state

    assert LMStep(model).agrees_with(model.step)
    assert not LMStep(model).agrees_with(off_at_one_step)
    assert len(calls) == wrong_at + 1  # the probe stops at the first step that disagrees


def test_one_thread_for_small_steps_only():
    assert generation_threads(1, 256) == 1 and generation_threads(8, 256) == 1
    assert generation_threads(64, 1024) is None
