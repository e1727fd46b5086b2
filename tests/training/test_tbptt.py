"""Truncated BPTT against a hand-written LSTM loop whose every step uses its own weight copy.

With one copy of the weights per time step, the gradient of the loss with respect to the
copy used at step t collects exactly the chain-rule paths that start at step t. Truncated
BPTT through the last k2 steps is, by definition, the sum of the gradients of the copies
used in those k2 steps (the state entering them is a constant); full BPTT sums all copies.
Both references come from ONE backward pass through the whole sequence.
"""

import random

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.batching import StreamBatches, Window
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.tbptt import TokenStream, window_length
from rnnkit.training.trainer import TrainConfig, Trainer

V, H, B, T = 7, 5, 3, 12


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return LanguageModel(LanguageModelConfig(V, hidden_size=H, num_layers=1)).double()


def reference_grads(model, x, y, h0, c0, k2):
    """Gradients of the mean cross-entropy over the last k2 steps, truncated at T - k2."""
    steps = x.shape[1]
    copies = [
        {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
        for _ in range(steps)
    ]
    h, c, total = h0, c0, 0.0
    for t in range(steps):
        w = copies[t]
        e = w["embedding.weight"][x[:, t]]  # (B, E)
        gates = (
            e @ w["rnn.weight_ih_l0"].T
            + w["rnn.bias_ih_l0"]
            + h @ w["rnn.weight_hh_l0"].T
            + w["rnn.bias_hh_l0"]
        )  # (B, 4H), gate order i, f, g, o
        i, f, g, o = gates.chunk(4, dim=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        logits = h @ w["proj.weight"].T + w["proj.bias"]  # (B, V)
        if t >= steps - k2:
            total = total + F.cross_entropy(logits, y[:, t], reduction="sum")
    (total / (x.shape[0] * k2)).backward()
    window = range(steps - k2, steps)
    return {n: sum(copies[t][n].grad for t in window) for n, _ in model.named_parameters()}


def trainer_grads(model, x, y, state, **config):
    ids = torch.randint(V, (100,))
    cfg = TrainConfig(batch_size=B, bptt=T, clip_norm=None, max_steps=1, **config)
    trainer = Trainer(model, ids, ids, cfg, progress=False)
    trainer.optimizer.step = lambda: None  # keep the gradients, skip the update
    loss, _ = trainer.train_step(Window(x, y, state, k2=cfg.tbptt_k2))
    return loss, {n: p.grad for n, p in model.named_parameters()}


def data(seed=1):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randint(V, (B, T), generator=g), torch.randint(V, (B, T), generator=g)
    h0 = torch.randn(1, B, H, generator=g, dtype=torch.float64)
    c0 = torch.randn(1, B, H, generator=g, dtype=torch.float64)
    return x, y, h0, c0


@pytest.mark.parametrize("k2", [None, T])
def test_window_of_whole_sequence_gives_full_bptt_gradient(k2):
    model = tiny_model()
    x, y, h0, c0 = data()
    expected = reference_grads(model, x, y, h0[0], c0[0], T)
    _, got = trainer_grads(model, x, y, (h0, c0), tbptt_k2=k2)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, msg=name)


@pytest.mark.parametrize("k2", [1, 5, 11])
def test_tbptt_k1_k2_gradient_backpropagates_only_last_k2_steps(k2):
    model = tiny_model()
    x, y, h0, c0 = data()
    expected = reference_grads(model, x, y, h0[0], c0[0], k2)
    _, got = trainer_grads(model, x, y, (h0, c0), tbptt_k2=k2)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, msg=name)
    full = reference_grads(model, x, y, h0[0], c0[0], T)  # the truncation changes something
    assert not torch.allclose(got["rnn.weight_hh_l0"], full["rnn.weight_hh_l0"])


def test_loss_of_k1_k2_window_is_mean_over_last_k2_steps():
    model = tiny_model()
    x, y, h0, c0 = data()
    with torch.no_grad():
        logits, _ = model(x, (h0, c0))
    expected = F.cross_entropy(logits[:, -4:].flatten(0, 1), y[:, -4:].flatten())
    loss, _ = model.loss(Window(x, y, (h0, c0), k2=4))
    torch.testing.assert_close(loss, expected)


def test_carried_state_matches_one_pass_and_is_cut_from_graph():
    model = tiny_model()
    ids = torch.randint(V, (B * T + 1,), generator=torch.Generator().manual_seed(3))
    stream = TokenStream(ids, B)
    state, finals = None, []
    while not stream.exhausted:
        x, y = stream.read(5)  # windows of 5, 5, 2
        loss, metrics = model.loss(Window(x, y, state))
        loss.backward()
        state = metrics["state"]
        finals.append(state)
    with torch.no_grad():
        _, (h, c) = model(stream.inputs, None)
    torch.testing.assert_close(finals[-1][0], h)
    torch.testing.assert_close(finals[-1][1], c)
    assert finals[-1][0].requires_grad  # (a second backward through an uncut graph would fail)
    assert stream.position == T and [f[0].shape for f in finals] == [(1, B, H)] * 3


def test_token_stream_has_stream_batches_layout_and_rank_shares():
    ids = torch.arange(50)
    expected = torch.cat([x for x, _ in StreamBatches(ids, 4, 5)], dim=1)  # (4, 12)
    stream = TokenStream(ids, 4)
    assert torch.equal(stream.inputs, expected)
    assert torch.equal(stream.targets, expected + 1)
    share = TokenStream(ids, 4, columns=slice(2, 4))
    assert torch.equal(share.inputs, expected[2:])
    x, _ = share.read(100)
    assert x.shape == (2, 12) and share.exhausted
    share.next_epoch()
    assert (share.epoch, share.position) == (1, 0)


def test_random_window_lengths_follow_awd_lstm_rule():
    rng = random.Random(0)
    lengths = [window_length(rng, 70) for _ in range(4000)]
    assert min(lengths) >= 5 and max(lengths) <= 110
    long = [n for n in lengths if n > 52]  # N(70, 5) side; N(35, 5) lies below 52
    assert 0.93 < len(long) / len(lengths) < 0.97
    assert sum(long) / len(long) == pytest.approx(69.5, abs=0.3)  # int() truncates: mean - 0.5
    assert [window_length(random.Random(5), 70) for _ in range(3)] == [
        window_length(random.Random(5), 70) for _ in range(3)
    ]
    assert window_length(random.Random(1), 3) >= 3  # never below min(5, bptt)


def test_random_windows_scale_lr_by_length_over_bptt():
    model = tiny_model()
    ids = torch.randint(V, (2000,), generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(batch_size=2, bptt=20, random_bptt=True, lr=1e-3, max_steps=30)
    trainer = Trainer(model, ids, ids[:200], cfg, progress=False)
    seen, step = [], trainer.optimizer.step

    def record():
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        step()

    trainer.optimizer.step = record
    lengths, read = [], trainer.source.read
    trainer.source.read = lambda n: (lengths.append(n), read(n))[1]
    trainer.fit()
    assert len(set(lengths)) > 3
    assert seen == pytest.approx([1e-3 * n / 20 for n in lengths])
