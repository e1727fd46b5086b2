import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.scheduled_sampling import (
    ScheduledSampling,
    logits_step,
    scheduled_sampling_forward,
)

V, B, T = 11, 3, 7


def make_model(cell="lstm", seed=0):
    torch.manual_seed(seed)
    config = LanguageModelConfig(V, cell=cell, hidden_size=8, num_layers=2, embedding_size=5)
    return LanguageModel(config)


def initial_state(cell, seed=1):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(2, B, 8, generator=g)
    return (h, torch.randn(2, B, 8, generator=g)) if cell == "lstm" else h


def inputs(seed=2):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def free_running_loop(model, first, state, steps, generator, argmax=False):
    """Hand-written free running: feed back a draw from softmax(logits) (or the argmax)."""
    token, out = first, []
    for _ in range(steps):
        logits, state = model(token[:, None], state)  # (B, 1, V)
        out.append(logits[:, 0])
        probs = logits[:, 0].softmax(-1)
        token = (
            probs.argmax(-1) if argmax else torch.multinomial(probs, 1, generator=generator)[:, 0]
        )
    return torch.stack(out, 1), state


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_probability_one_is_teacher_forcing_outputs_state_and_gradients(cell):
    model, x = make_model(cell), inputs()
    weights = torch.randn(B, T, V, generator=torch.Generator().manual_seed(3))
    ref_logits, ref_state = model(x, initial_state(cell))
    (ref_logits * weights).sum().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    logits, state = scheduled_sampling_forward(logits_step(model), x, initial_state(cell), 1.0)
    (logits * weights).sum().backward()
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(state, ref_state)
    for p, g in zip(model.parameters(), ref_grads, strict=True):
        torch.testing.assert_close(p.grad, g)


@pytest.mark.parametrize("feedback", ["sample", "argmax"])
def test_probability_zero_is_free_running(feedback):
    model, x = make_model(), inputs()
    ref_logits, ref_state = free_running_loop(
        model,
        x[:, 0],
        initial_state("lstm"),
        T,
        torch.Generator().manual_seed(5),
        argmax=feedback == "argmax",
    )
    logits, state = scheduled_sampling_forward(
        logits_step(model),
        x,
        initial_state("lstm"),
        0.0,
        feedback=feedback,
        generator=torch.Generator().manual_seed(5),
    )
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(state, ref_state)
    # free running ignores the ground truth after step 0
    other = x.clone()
    other[:, 1:] = (x[:, 1:] + 1) % V
    again, _ = scheduled_sampling_forward(
        logits_step(model), other, initial_state("lstm"), 0.0, feedback=feedback,
        generator=torch.Generator().manual_seed(5),
    )  # fmt: skip
    torch.testing.assert_close(again, ref_logits)


def test_forward_chunk_follows_the_schedule():
    model, x = make_model(), inputs()
    ss = ScheduledSampling("linear", k=1.0, c=0.5)  # eps: 1, 0.5, 0
    with torch.no_grad():
        teacher, _ = ss.forward_chunk(model, x, None, step=0)
        free, _ = ss.forward_chunk(
            model, x, None, step=2, generator=torch.Generator().manual_seed(7)
        )
        ref_teacher, _ = model(x)
        ref_free, _ = free_running_loop(model, x[:, 0], None, T, torch.Generator().manual_seed(7))
    torch.testing.assert_close(teacher, ref_teacher)
    torch.testing.assert_close(free, ref_free)


def test_objective_reads_the_step_at_every_call():
    model, x = make_model(), inputs()
    y = (x + 3) % V
    current = {"step": 0}
    objective = ScheduledSampling("linear", k=1.0, c=1.0).objective(lambda: current["step"])
    with torch.no_grad():
        teacher_loss, _ = objective(model, x, y, None)
        torch.manual_seed(13)
        current["step"] = 1  # eps = 0: free running, drawing from torch's global generator
        free_loss, _ = objective(model, x, y, None)
        ref_teacher = F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten())
        free, _ = free_running_loop(model, x[:, 0], None, T, torch.Generator().manual_seed(13))
        ref_free = F.cross_entropy(free.flatten(0, 1), y.flatten())
    torch.testing.assert_close(teacher_loss, ref_teacher)
    torch.testing.assert_close(free_loss, ref_free)


def test_mixed_inputs_come_from_truth_or_previous_prediction():
    model, x = make_model(), inputs()
    fed, outputs = [], []
    step = logits_step(model)

    def recording_step(tokens, state):
        fed.append(tokens)
        logits, state = step(tokens, state)
        outputs.append(logits)
        return logits, state

    g = torch.Generator().manual_seed(11)
    scheduled_sampling_forward(recording_step, x, None, 0.5, feedback="argmax", generator=g)
    assert torch.equal(fed[0], x[:, 0])
    from_truth = from_model = 0
    for t in range(1, T):
        truth, own = fed[t] == x[:, t], fed[t] == outputs[t - 1].argmax(-1)
        assert bool((truth | own).all())
        from_truth += int((truth & ~own).sum())
        from_model += int((own & ~truth).sum())
    assert from_truth > 0 and from_model > 0


def test_coin_flip_frequency_matches_probability():
    big_b, steps, p = 2000, 11, 0.3
    fed = []

    def always_token_one(tokens, state):  # puts all probability mass on token 1
        fed.append(tokens)
        logits = torch.full((tokens.shape[0], 3), -1e4)
        logits[:, 1] = 0.0
        return logits, state

    truth = torch.zeros(big_b, steps, dtype=torch.long)  # ground truth is always token 0
    g = torch.Generator().manual_seed(0)
    scheduled_sampling_forward(always_token_one, truth, None, p, generator=g)
    assert bool((fed[0] == 0).all())
    later = torch.stack(fed[1:])  # (T - 1, B)
    assert set(later.unique().tolist()) == {0, 1}
    frequency = (later == 0).float().mean().item()
    assert frequency == pytest.approx(p, abs=0.02)  # 20000 flips: std ~0.003


def test_schedules_hand_computed():
    linear = ScheduledSampling("linear", k=1.0, c=0.01, min_prob=0.1)
    assert [linear.teacher_prob(i) for i in (0, 30, 90, 95, 10**6)] == pytest.approx(
        [1.0, 0.7, 0.1, 0.1, 0.1]
    )
    exponential = ScheduledSampling("exponential", k=0.9)
    assert [exponential.teacher_prob(i) for i in (0, 1, 2, 10)] == pytest.approx(
        [1.0, 0.9, 0.81, 0.3486784401]
    )
    sigmoid = ScheduledSampling("inverse_sigmoid", k=10.0)
    # 10/(10 + e^0) = 10/11; 10/(10 + 2.7182818) = 0.7862697; 10/(10 + 22026.466) = 4.537933e-4
    assert [sigmoid.teacher_prob(i) for i in (0, 10, 100)] == pytest.approx(
        [10 / 11, 0.7862697, 4.537933e-4], rel=1e-6
    )
    assert sigmoid.teacher_prob(10**7) == pytest.approx(0.0, abs=1e-300)  # no overflow
    floored = ScheduledSampling("inverse_sigmoid", k=10.0, min_prob=0.05)
    assert floored.teacher_prob(100) == 0.05
    assert ScheduledSampling("linear", k=1.0).teacher_prob(5000) == pytest.approx(0.5)


def test_mixed_chunk_trains_through_the_state():
    model, x = make_model(), inputs()
    ss = ScheduledSampling("exponential", k=0.5)
    logits, _ = ss.forward_chunk(model, x, None, step=1, generator=torch.Generator().manual_seed(0))
    F.cross_entropy(logits.flatten(0, 1), x.flatten()).backward()
    grads = [p.grad for p in model.rnn.parameters()]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": "cosine"}, "'cosine'"),
        ({"schedule": "linear", "k": 1.5}, "1.5"),
        ({"schedule": "exponential", "k": 0.0}, "0.0"),
        ({"schedule": "inverse_sigmoid", "k": 0.5}, "0.5"),
        ({"schedule": "exponential", "c": 0.1}, "c=0.1"),
        ({"schedule": "linear", "c": -1.0}, "-1.0"),
        ({"schedule": "linear", "min_prob": 1.0}, "1.0"),
        ({"schedule": "linear", "feedback": "greedy"}, "'greedy'"),
    ],
)
def test_bad_options_are_rejected_with_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScheduledSampling(**kwargs)


def test_bad_probability_and_step_are_rejected():
    model = make_model()
    with pytest.raises(ValueError, match="1.5"):
        scheduled_sampling_forward(logits_step(model), inputs(), None, 1.5)
    with pytest.raises(ValueError, match="-1"):
        ScheduledSampling().teacher_prob(-1)
    assert math.isclose(ScheduledSampling().teacher_prob(0), 1.0)


def test_train_config_wires_scheduled_sampling_into_the_trainer():
    from rnnkit.data.vocab import CharVocab
    from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
    from rnnkit.training import TrainConfig, Trainer
    from rnnkit.training.tbptt import next_token_loss

    text = "abcabcabd" * 40
    vocab = CharVocab.from_text(text)
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(len(vocab), hidden_size=8, num_layers=1), vocab)
    ids = vocab.encode(text)
    config = TrainConfig(batch_size=2, bptt=8, max_steps=3, scheduled_sampling="exponential")
    trainer = Trainer(model, ids[:300], ids[300:], config, progress=False)
    schedule = config.scheduled_sampling_schedule()
    assert trainer.objective is not next_token_loss and schedule.teacher_prob(0) == 1.0
    trainer.fit()
    assert trainer.step == 3
    with pytest.raises(ValueError, match="exponential"):
        TrainConfig(max_steps=1, scheduled_sampling="exponential", ss_k=2.0)
