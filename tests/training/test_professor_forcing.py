import copy
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.professor_forcing import HiddenStateDiscriminator, ProfessorForcing

V, B, T, H = 9, 4, 6, 10
EXAMPLE = Path(__file__).parents[2] / "examples" / "professor_forcing_lm.py"


def make(cell="lstm", seed=0, **options):
    torch.manual_seed(seed)
    config = LanguageModelConfig(V, cell=cell, hidden_size=H, num_layers=2, embedding_size=7)
    model = LanguageModel(config)
    return model, ProfessorForcing(model, discriminator_hidden=8, **options)


def batch(seed=1):
    ids = torch.randint(0, V, (B, T + 1), generator=torch.Generator().manual_seed(seed))
    return ids[:, :-1], ids[:, 1:]


def start_state(seed=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, B, H, generator=g), torch.randn(2, B, H, generator=g)


def reference_runs(model, x, state, seed):
    """Independent twin: teacher-forced top-layer states, and a hand-written free-running loop."""
    teacher, _ = model.rnn(model.embedding(x), state)
    g, token, free = torch.Generator().manual_seed(seed), x[:, 0], []
    for _ in range(x.shape[1]):
        out, state = model.rnn(model.embedding(token)[:, None], state)  # (B, 1, H)
        free.append(out[:, 0])
        token = torch.multinomial(model.proj(out[:, 0]).softmax(-1), 1, generator=g)[:, 0]
    return teacher, torch.stack(free, 1)


def test_discriminator_sees_teacher_forced_and_free_running_sequences():
    model, pf = make()
    x, y = batch()
    seen = []
    pf.discriminator.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    pf.losses(x, y, start_state(), generator=torch.Generator().manual_seed(3))
    teacher, free = reference_runs(model, x, start_state(), seed=3)
    assert len(seen) == 3  # L_adv on free; L_D on teacher and free
    assert all(h.shape == (B, T, H) for h in seen)
    assert sum(torch.allclose(h, teacher) for h in seen) == 1
    assert sum(torch.allclose(h, free) for h in seen) == 2
    assert not torch.allclose(teacher[:, 1:], free[:, 1:])  # the runs really differ
    torch.testing.assert_close(teacher[:, 0], free[:, 0])  # ... from the same start


def test_losses_match_their_formulas():
    model, pf = make(teacher_forced_adversarial=True, adversarial_weight=0.3)
    x, y = batch()
    losses = pf.losses(x, y, start_state(), generator=torch.Generator().manual_seed(4))
    teacher, free = reference_runs(model, x, start_state(), seed=4)
    p_tf, p_fr = pf.discriminator(teacher).sigmoid(), pf.discriminator(free).sigmoid()
    logits, _ = model(x, start_state())
    nll = -logits.log_softmax(-1).gather(-1, y[..., None]).mean()
    adv = -p_fr.log().mean() - (1 - p_tf).log().mean()
    d_loss = -0.5 * (p_tf.log().mean() + (1 - p_fr).log().mean())
    accuracy = 0.5 * ((p_tf > 0.5).float().mean() + (p_fr < 0.5).float().mean())
    torch.testing.assert_close(losses["nll"], nll)
    torch.testing.assert_close(losses["generator_adv"], adv)
    torch.testing.assert_close(losses["generator"], nll + 0.3 * adv)
    torch.testing.assert_close(losses["discriminator"], d_loss)
    torch.testing.assert_close(losses["d_accuracy"], accuracy)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_discriminator_alone_learns_a_fixed_pair(pooling):
    model, pf = make(pooling=pooling, lr_d=1e-2)
    x, _ = batch()
    with torch.no_grad():
        for p in model.rnn.parameters():  # larger weights: hidden states of order 1, not 0.06
            p.mul_(4.0)
        passes = pf.forward_passes(x, generator=torch.Generator().manual_seed(5))
    before = [p.detach().clone() for p in model.parameters()]
    losses = []
    for _ in range(80):
        loss, accuracy = pf.discriminator_loss(passes.teacher, passes.free)
        pf.optimizer_d.zero_grad()
        loss.backward()
        pf.optimizer_d.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert accuracy.item() == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("free_running", ["sample", "soft"])
def test_adversarial_gradient_reaches_the_model_only(free_running):
    model, pf = make(free_running=free_running)
    x, y = batch()
    pf.losses(x, y, generator=torch.Generator().manual_seed(6))["generator_adv"].backward()
    assert all(p.grad is None for p in pf.discriminator.parameters())
    assert all(p.grad.abs().sum() > 0 for p in model.rnn.parameters())
    assert model.embedding.weight.grad.abs().sum() > 0
    proj_grad = model.proj.weight.grad
    if free_running == "soft":  # the soft feedback differentiates through the output layer
        assert proj_grad.abs().sum() > 0
    else:  # a sampled token is a discrete choice: no gradient into proj
        assert proj_grad is None
    assert all(p.requires_grad for p in pf.discriminator.parameters())  # unfrozen afterwards


def test_discriminator_gradient_reaches_the_discriminator_only():
    model, pf = make()
    x, y = batch()
    pf.losses(x, y, generator=torch.Generator().manual_seed(7))["discriminator"].backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad.abs().sum() > 0 for p in pf.discriminator.parameters())


def plain_teacher_forced_step(model, x, y, state, *, lr, clip_norm):
    """The reference update: Adam on the teacher-forced NLL, with clipping."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    logits, state = model(x, state)
    F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return tuple(s.detach() for s in state)


def unchanged(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_zero_adversarial_weight_is_plain_teacher_forced_training():
    model, pf = make(adversarial_weight=0.0, lr=1e-2, clip_norm=0.5)
    twin = copy.deepcopy(model)
    d_before = [p.detach().clone() for p in pf.discriminator.parameters()]
    x, y = batch()
    metrics, state = pf.train_step(x, y, start_state(), generator=torch.Generator().manual_seed(8))
    ref_state = plain_teacher_forced_step(twin, x, y, start_state(), lr=1e-2, clip_norm=0.5)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    torch.testing.assert_close(state, ref_state)
    assert not any(s.requires_grad for s in state)
    assert metrics["discriminator_updated"] and not unchanged(d_before, pf.discriminator)


def test_adversarial_weight_changes_the_update():
    params = []
    for weight in (0.0, 1.0):
        model, pf = make(adversarial_weight=weight)
        pf.train_step(*batch(), generator=torch.Generator().manual_seed(9))
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.allclose(params[0], params[1])


def test_accuracy_gates_skip_the_adversarial_loss_and_the_discriminator_update():
    model, pf = make(discriminator_max_accuracy=0.0, adversarial_min_accuracy=1.0, clip_norm=5.0)
    twin = copy.deepcopy(model)
    d_before = [p.detach().clone() for p in pf.discriminator.parameters()]
    x, y = batch()
    metrics, _ = pf.train_step(x, y, generator=torch.Generator().manual_seed(10))
    plain_teacher_forced_step(twin, x, y, None, lr=2e-3, clip_norm=5.0)
    assert not metrics["adversarial_used"] and not metrics["discriminator_updated"]
    assert unchanged(d_before, pf.discriminator)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_discriminator_shape_and_options():
    d = HiddenStateDiscriminator(H, 8, pooling="last")
    assert d(torch.randn(3, 5, H)).shape == (3,)
    with pytest.raises(ValueError, match="'max'"):
        HiddenStateDiscriminator(H, 8, pooling="max")
    model = make()[0]
    with pytest.raises(ValueError, match="-1.0"):
        ProfessorForcing(model, adversarial_weight=-1.0)
    with pytest.raises(ValueError, match="'greedy'"):
        ProfessorForcing(model, free_running="greedy")


def test_example_script_runs(capsys):
    spec = importlib.util.spec_from_file_location("professor_forcing_lm", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--steps", "2", "--hidden-size", "16", "--batch-size", "4",
                           "--sample-length", "20", "--valid-chars", "2000"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "discriminator accuracy" in printed and "--- sample ---" in printed
    assert len(result["sample"]) == 21  # the prime + 20 characters
