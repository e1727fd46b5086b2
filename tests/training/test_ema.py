"""EMA weight averaging: the update against hand-computed values, the Trainer keeping and
validating the average, and exact resume."""

import pytest
import torch
from torch import nn

from crash_resume import crash_then_reopen
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.averaging import EMA
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.trainer import TrainConfig, Trainer


def test_update_matches_the_formula_by_hand():
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, decay=0.5)
    averages = []
    for w in (1.0, 3.0, 5.0, 2.0):
        with torch.no_grad():
            model.weight.fill_(w)
        ema.update()
        averages.append(ema.average[0].item())
    # ema_1 = 1; d_2 = min(0.5, 2/11): 2/11 * 1 + 9/11 * 3; d_3 = min(0.5, 3/12) = 1/4;
    # d_4 = min(0.5, 4/13) = 4/13
    e2 = 2 / 11 * 1 + 9 / 11 * 3
    e3 = 0.25 * e2 + 0.75 * 5
    e4 = 4 / 13 * e3 + 9 / 13 * 2
    assert averages == pytest.approx([1.0, e2, e3, e4], rel=1e-6)
    assert ema.count == 4


def test_the_decay_governs_once_the_warm_up_passes():
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(0.0)
    for _ in range(200):  # m / (m + 9) passes 0.9 at m = 81
        ema.update()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update()
    assert ema.average[0].item() == pytest.approx(0.1, rel=1e-6)  # (1 - d) * 1


def test_averaged_swaps_the_weights_in_and_back():
    model = nn.Linear(2, 1)
    ema = EMA(model, decay=0.5)
    raw = [p.detach().clone() for p in model.parameters()]
    with ema.averaged():  # no update yet: the raw weights
        assert all(torch.equal(p, r) for p, r in zip(model.parameters(), raw, strict=True))
    ema.update()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update()  # average = 2/11 raw + 9/11 (raw + 1)
    with ema.averaged():
        for p, r in zip(model.parameters(), raw, strict=True):
            torch.testing.assert_close(p, r + 9 / 11)
    for p, r in zip(model.parameters(), raw, strict=True):
        assert torch.equal(p, r + 1.0)


def make_trainer(out_dir, **overrides):
    ids = torch.tensor([ord(c) % 20 for c in "the cat sat on the mat, the dog ate the log. " * 8])
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(20, hidden_size=8, num_layers=1))
    fields = {"batch_size": 4, "bptt": 8, "ema_decay": 0.6, "lr": 0.05, "max_steps": 6,
              "eval_every": 3, **overrides}  # fmt: skip
    return Trainer(model, ids, ids[:40], TrainConfig(**fields), out_dir=out_dir, progress=False)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def test_trainer_validates_and_saves_the_average(tmp_path):
    trainer = make_trainer(tmp_path)
    raw = {}
    trainer.callbacks = {"on_step_end": [lambda t, m: raw.update({m["step"]: weights(t.model)})]}
    scores = iter([2.0, 1.0])  # the second validation (step 6) is the best: saved
    seen = []

    def evaluator():
        seen.append(weights(trainer.model))
        return {"nats": next(scores), "bits": 0.0}

    trainer.evaluator = evaluator
    trainer.fit()
    by_hand = list(raw[1])
    for m in range(2, 7):
        d = min(0.6, m / (m + 9))
        by_hand = [d * a + (1 - d) * w for a, w in zip(by_hand, raw[m], strict=True)]
    for p, q, r in zip(LanguageModel.from_pretrained(tmp_path).parameters(), by_hand, seen[1],
                       strict=True):  # fmt: skip
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(r, q, rtol=1e-5, atol=1e-6)  # validated on the average
    for p, w in zip(trainer.model.parameters(), raw[6], strict=True):
        assert torch.equal(p, w)  # training continues on the raw weights
    valid = [r for r in read_metrics(tmp_path) if r["kind"] == "valid"]
    assert [r["averaged_updates"] for r in valid] == [3, 6]
    assert "nt_asgd_switch" not in valid[0]


def test_resume_is_exact(tmp_path):
    whole, resumed = crash_then_reopen(make_trainer, tmp_path, 7, max_steps=9, save_every=4)
    assert resumed.resume() == 4
    assert resumed.averaging.count == 4
    resumed.fit()
    for a, b in zip(whole.averaging.average, resumed.averaging.average, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="ema_decay and nt-asgd"):
        TrainConfig(max_steps=1, optimizer="nt-asgd", ema_decay=0.99)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(max_steps=1, ema_decay=1.0)
    assert make_trainer(None, ema_decay=0.0).averaging is None  # 0: off, as on the CLI
