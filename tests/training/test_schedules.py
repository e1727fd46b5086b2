"""Learning-rate curves against hand-computed values; optimisers; early stopping."""

import itertools
import json
import math

import pytest
import torch

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training import trainer as trainer_module
from rnnkit.training.schedules import EarlyStopping, LRSchedule, build_optimizer
from rnnkit.training.trainer import TrainConfig, Trainer


def lrs(n, time_fraction=0.0, **config):
    schedule = LRSchedule(TrainConfig(lr=1.0, max_steps=10, **config))
    return [schedule.lr(i, time_fraction) for i in range(n)]


def test_constant_with_linear_warmup():
    assert lrs(6, warmup_steps=4) == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1])
    assert lrs(3) == [1.0, 1.0, 1.0]


def test_step_decay_counts_after_warmup():
    assert lrs(7, schedule="step", decay_every=3) == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    got = lrs(6, schedule="step", decay_every=3, decay_factor=0.1, warmup_steps=2)
    assert got == pytest.approx([0.5, 1, 1, 1, 1, 0.1])


def test_cosine_with_warmup_by_hand():
    got = lrs(11, schedule="cosine", warmup_steps=2, min_lr_ratio=0.1)
    assert got[0] == pytest.approx(0.5) and got[1] == pytest.approx(1.0)
    assert got[2] == pytest.approx(1.0)  # decay starts after warm-up
    assert got[4] == pytest.approx(0.868198, abs=1e-6)  # p = 2/8: 0.1 + 0.9 (1 + cos(pi/4)) / 2
    assert got[6] == pytest.approx(0.55)  # p = 1/2
    assert got[10] == pytest.approx(0.1)  # p = 1: the floor
    assert all(a >= b for a, b in itertools.pairwise(got[1:]))


def test_cosine_under_a_time_budget_follows_the_clock():
    schedule = LRSchedule(TrainConfig(lr=1.0, max_minutes=1.0, schedule="cosine", min_lr_ratio=0))
    assert schedule.lr(500, 0.0) == pytest.approx(1.0)
    assert schedule.lr(500, 0.5) == pytest.approx(0.5)
    assert schedule.lr(7, 1.0) == pytest.approx(0.0, abs=1e-12)


def test_plateau_decays_after_patience_misses():
    schedule = LRSchedule(TrainConfig(lr=1.0, max_steps=10, schedule="plateau"))
    seen = []
    for loss in [3.0, 2.0, 2.5, 2.4, 1.0, 1.5, 1.2, 0.9999]:
        schedule.observe(loss)
        seen.append(schedule.lr(100))
    # 2.5, 2.4: two misses -> 0.5; 1.5, 1.2: two more -> 0.25; 0.9999 is within 1e-4 of 1.0
    assert seen == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    state = schedule.state_dict()
    again = LRSchedule(schedule.config)
    again.load_state_dict(json.loads(json.dumps(state)))
    assert again.lr(100) == 0.25 and again.bad_validations == 1


def test_trainer_applies_the_schedule_to_every_update():
    torch.manual_seed(0)
    ids = torch.randint(10, (600,))
    model = LanguageModel(LanguageModelConfig(10, hidden_size=4, num_layers=1))
    cfg = TrainConfig(
        batch_size=2, bptt=8, lr=0.01, max_steps=10, schedule="cosine", warmup_steps=2
    )
    trainer = Trainer(model, ids, ids[:100], cfg, progress=False)
    used, step = [], trainer.optimizer.step
    trainer.optimizer.step = lambda: (used.append(trainer.optimizer.param_groups[0]["lr"]), step())
    trainer.fit()
    expected = [
        0.01 * min(1, (i + 1) / 2) * (0.1 + 0.9 * (1 + math.cos(math.pi * max(0, i - 2) / 8)) / 2)
        for i in range(10)
    ]
    assert used == pytest.approx(expected)


def one_param_updates(optimizer_name, grads, **config):
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = build_optimizer([p], TrainConfig(max_steps=1, optimizer=optimizer_name, **config))
    for g in grads:
        p.grad = torch.tensor([g])
        opt.step()
    return p.item()


def test_sgd_momentum_by_hand():
    # v1 = 1, p1 = 1 - 0.1 = 0.9; v2 = 0.9 + 1 = 1.9, p2 = 0.9 - 0.19 = 0.71
    assert one_param_updates("sgd", [1.0, 1.0], lr=0.1, momentum=0.9) == pytest.approx(0.71)
    assert one_param_updates("sgd", [1.0, 1.0], lr=0.1) == pytest.approx(0.8)


def test_rmsprop_is_char_rnns_with_alpha_095():
    # square_avg = 0.05 * 2^2 = 0.2; p = 1 - 0.01 * 2 / sqrt(0.2)
    got = one_param_updates("rmsprop", [2.0], lr=0.01)
    assert got == pytest.approx(1 - 0.02 / math.sqrt(0.2), rel=1e-6)


def test_adam_is_the_default():
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], TrainConfig(max_steps=1, lr=0.5))
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 0.5


def test_early_stopping_counts_validations_without_improvement():
    stopper = EarlyStopping(2)
    assert [stopper.observe(v) for v in [3.0, 2.0, 2.5, 2.1]] == [False, False, False, True]
    never = EarlyStopping(None)
    assert not any(never.observe(v) for v in [1.0, 2.0, 3.0, 4.0])


def test_trainer_stops_early(tmp_path, monkeypatch):
    script = iter([3.0, 2.0, 2.5, 2.4, 2.1, 1.0])
    monkeypatch.setattr(trainer_module, "evaluate", lambda *a, **k: next(script))
    torch.manual_seed(0)
    ids = torch.randint(10, (600,))
    model = LanguageModel(LanguageModelConfig(10, hidden_size=4, num_layers=1))
    cfg = TrainConfig(batch_size=2, bptt=8, max_steps=100, eval_every=2, patience=3)
    trainer = Trainer(model, ids, ids[:100], cfg, out_dir=tmp_path, progress=False)
    trainer.fit()
    assert trainer.stopped_early and trainer.step == 10  # 5th validation: 3 without improving
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "stop" and records[-1]["step"] == 10
    assert (tmp_path / "trainer_state" / "step-000010").is_dir()
    assert trainer.best_valid == 2.0
    again = Trainer(model, ids, ids[:100], cfg, out_dir=tmp_path, progress=False)
    assert again.resume() == 10 and again.stopped_early
    again.fit()  # a run that stopped early stays stopped, its log intact
    assert again.step == 10
    assert (tmp_path / "metrics.jsonl").read_text().splitlines()[-1] == json.dumps(records[-1])
