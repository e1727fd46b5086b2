"""Clipping by value and global norm (hand-computed), and the NaN/Inf guard (stop or skip)."""

import json
import math

import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.gradients import NonFiniteError, clip_gradients
from rnnkit.training.tbptt import next_token_loss
from rnnkit.training.trainer import TrainConfig, Trainer


def with_grads(*grads):
    params = [torch.zeros(len(g), requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g)
    return params


def test_clip_by_global_norm_rescales_all_gradients_together():
    params = with_grads([3.0, 0.0], [0.0, 4.0])  # global norm 5
    norm = clip_gradients(params, max_norm=1.0, max_value=None)
    assert norm == pytest.approx(5.0)
    torch.testing.assert_close(params[0].grad, torch.tensor([0.6, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(params[1].grad, torch.tensor([0.0, 0.8]), atol=1e-6, rtol=0)


def test_norm_below_limit_and_no_limit_leave_gradients_unchanged():
    params = with_grads([0.3, -0.4])
    assert clip_gradients(params, max_norm=1.0, max_value=None) == pytest.approx(0.5)
    assert clip_gradients(params, max_norm=None, max_value=None) == pytest.approx(0.5)
    assert params[0].grad.tolist() == pytest.approx([0.3, -0.4])


def test_clip_by_value_then_norm():
    params = with_grads([3.0, -10.0, 0.5])
    norm = clip_gradients(params, max_norm=None, max_value=2.0)
    assert params[0].grad.tolist() == [2.0, -2.0, 0.5]
    assert norm == pytest.approx(math.sqrt(8.25))
    params = with_grads([3.0, -10.0])
    clip_gradients(params, max_norm=1.0, max_value=2.0)  # (2, -2) then to norm 1
    assert params[0].grad.tolist() == pytest.approx([0.5**0.5, -(0.5**0.5)], rel=1e-5)


def test_nonfinite_gradient_gives_nonfinite_norm():
    assert math.isnan(clip_gradients(with_grads([1.0, math.nan]), max_norm=5.0, max_value=None))
    assert math.isinf(clip_gradients(with_grads([math.inf]), max_norm=None, max_value=None))


TEXT = "the quick brown fox jumps over the lazy dog\n" * 20


def make_trainer(tmp_path=None, *, nan_at=(), **config):
    torch.manual_seed(0)
    ids = torch.tensor([ord(ch) % 32 for ch in TEXT])
    model = LanguageModel(LanguageModelConfig(32, hidden_size=8, num_layers=1))
    calls = []

    def objective(model, x, y, state):  # NaN loss on the listed calls (1-based)
        calls.append(1)
        loss, state = next_token_loss(model, x, y, state)
        return (loss * math.nan if len(calls) in nan_at else loss), state

    cfg = TrainConfig(batch_size=2, bptt=8, max_steps=10, eval_every=5, save_every=5, **config)
    trainer = Trainer(
        model, ids[:700], ids[700:], cfg, out_dir=tmp_path, progress=False, objective=objective
    )
    return trainer


def test_nan_loss_stops_with_one_line_naming_the_step(tmp_path):
    trainer = make_trainer(tmp_path, nan_at={7})
    with pytest.raises(NonFiniteError) as info:
        trainer.fit()
    message = str(info.value)
    assert "at step 7" in message and "loss is nan" in message and "\n" not in message
    assert isinstance(info.value, RnnkitError)  # the CLI prints it as one line, exit 2
    assert trainer.step == 6
    steps = sorted(p.name for p in (tmp_path / "trainer_state").iterdir())
    assert steps == ["step-000005"]  # the last good checkpoint stays


def test_nan_gradient_is_caught_even_when_loss_is_finite():
    trainer = make_trainer()
    hook = trainer.model.proj.bias.register_hook(lambda g: g * math.nan)
    with pytest.raises(NonFiniteError, match="at step 1: gradient norm is nan"):
        trainer.fit()
    hook.remove()


def test_skip_mode_drops_the_batch_and_goes_on(tmp_path):
    trainer = make_trainer(tmp_path, nan_at={3, 4}, on_nonfinite="skip")
    updates, step = [], trainer.optimizer.step
    trainer.optimizer.step = lambda: (updates.append(1), step())
    states = []
    read = trainer.source.read
    trainer.source.read = lambda n: (states.append(trainer.state), read(n))[1]
    trainer.fit()
    assert trainer.step == 10 and len(updates) == 10
    assert trainer.source.position == 12 * 8  # 12 windows read, 2 of them skipped
    assert states[3] is None and states[4] is None  # the carried state restarts after a skip
    assert all(s is not None for s in states[1:3] + states[5:])
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    skips = [r for r in records if r["kind"] == "skip"]
    assert [(r["step"], r["reason"]) for r in skips] == [
        (2, "loss is nan at step 3"),
        (2, "loss is nan at step 3"),
    ]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_skip_mode_gives_up_after_too_many_bad_batches_in_a_row():
    trainer = make_trainer(nan_at=set(range(2, 100)), on_nonfinite="skip")
    with pytest.raises(NonFiniteError, match=r"at step 2: loss is nan \(11 batches in a row\)"):
        trainer.fit()
