"""NT-ASGD: the non-monotone trigger on hand-made loss sequences, and the averaged weights."""

import json

import pytest
import torch
from torch import nn

from crash_resume import crash_then_reopen
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.averaging import NTASGD, nt_asgd_triggered
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.trainer import TrainConfig, Trainer


def first_switch(losses, window):
    """The index of the validation at which NT-ASGD switches to averaging, or None."""
    averaging = NTASGD(nn.Linear(2, 1), window)
    fired = [i for i, loss in enumerate(losses) if averaging.observe(loss)]
    assert len(fired) <= 1  # it switches once and stays switched
    return fired[0] if fired else None


@pytest.mark.parametrize(
    ("losses", "window", "expected"),
    [
        # v5 = 3.5 is worse than min(3, 2), the best before the last 2; v4 = 1.5 beats min(3)
        ([3.0, 2.0, 1.0, 1.5, 3.5], 2, 4),
        # worse than everything, but only 5 validations before it: not yet more than n = 5
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 5, None),
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.5], 5, 6),
        # equal to the best before the window is not worse
        ([2.0, 1.0, 2.0], 1, None),
        ([2.0, 1.0, 2.5], 1, 2),
        # steadily improving never fires
        ([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.25], 1, None),
        # 1.1 comes with only 3 validations before it; 1.2 > min(1.0, 0.9) fires
        ([1.0, 0.9, 0.8, 1.1, 0.7, 1.2], 3, 5),
    ],
)
def test_trigger_fires_when_the_hand_made_sequence_says(losses, window, expected):
    assert first_switch(losses, window) == expected


def test_trigger_is_merity_rule_by_hand():
    previous, loss = [4.0, 3.0, 2.0, 2.5], 3.5  # n = 2: best of [4, 3] is 3 < 3.5
    assert nt_asgd_triggered(previous, loss, 2)
    assert not nt_asgd_triggered(previous, 2.9, 2)
    assert not nt_asgd_triggered(previous[:2], 5.0, 2)  # 2 validations are not more than n


# The validation loss each validation reports (by step): the switch fires at step 12.
SCRIPT = {3: 3.0, 6: 2.0, 9: 1.0, 12: 3.5, 15: 0.5, 18: 0.4}


def make_trainer(out_dir, **overrides):
    ids = torch.tensor([ord(c) % 20 for c in "the cat sat on the mat, the dog ate the log. " * 8])
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(20, hidden_size=8, num_layers=1))
    fields = {
        "batch_size": 4,
        "bptt": 8,
        "optimizer": "nt-asgd",
        "nt_asgd_window": 2,
        "lr": 0.5,
        "max_steps": 15,
        "eval_every": 3,
        **overrides,
    }
    trainer = Trainer(model, ids, ids[:40], TrainConfig(**fields), out_dir=out_dir, progress=False)
    trainer.evaluator = lambda: {"nats": SCRIPT[trainer.step], "bits": 0.0}
    return trainer


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def test_saved_weights_are_the_mean_of_the_raw_weights_since_the_switch(tmp_path):
    trainer = make_trainer(tmp_path)
    raw = {}
    trainer.callbacks = {"on_step_end": [lambda t, m: raw.update({m["step"]: weights(t.model)})]}
    trainer.fit()
    valid = [r for r in read_metrics(tmp_path) if r["kind"] == "valid"]
    assert [r["nt_asgd_switch"] for r in valid] == [False, False, False, True, False]
    assert [r["averaged_updates"] for r in valid] == [0, 0, 0, 0, 3]
    saved = LanguageModel.from_pretrained(tmp_path)  # best at step 15, with averaged weights
    for i, p in enumerate(saved.parameters()):
        mean = torch.stack([raw[s][i] for s in (13, 14, 15)]).mean(0)  # by hand
        torch.testing.assert_close(p, mean, rtol=1e-6, atol=1e-7)
    for p, w in zip(trainer.model.parameters(), raw[15], strict=True):
        assert torch.equal(p, w)  # training continues on the raw weights
    assert not torch.equal(raw[15][0], raw[13][0])  # so the mean is not one of them


def test_before_the_switch_it_is_plain_sgd(tmp_path):
    runs = []
    for optimizer in ("nt-asgd", "sgd"):
        trainer = make_trainer(None, optimizer=optimizer, max_steps=9)
        trainer.fit()
        runs.append(weights(trainer.model))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_resume_after_the_switch_is_exact(tmp_path):
    whole, resumed = crash_then_reopen(make_trainer, tmp_path, 16, max_steps=18, save_every=13)
    assert resumed.resume() == 13  # one update averaged so far
    assert resumed.averaging.count == 1
    resumed.fit()
    assert resumed.averaging.count == whole.averaging.count == 6
    for a, b in zip(whole.averaging.average, resumed.averaging.average, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    best = [LanguageModel.from_pretrained(tmp_path / d) for d in ("whole", "crashed")]
    for a, b in zip(best[0].parameters(), best[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="nt_asgd_window must be a positive integer, got 0"):
        TrainConfig(max_steps=1, optimizer="nt-asgd", nt_asgd_window=0)


def test_a_state_saved_under_the_old_name_resumes(tmp_path):
    first = make_trainer(tmp_path, max_steps=15, save_every=13)
    first.fit()
    meta_path = tmp_path / "trainer_state" / "step-000013" / "trainer.json"
    meta = json.loads(meta_path.read_text())
    meta["nt_asgd"] = meta.pop("averaging")  # what states saved before EMA held
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "trainer_state" / "step-000015").rename(tmp_path / "later")
    resumed = make_trainer(tmp_path, max_steps=15, save_every=13)
    assert resumed.resume() == 13
    assert resumed.averaging.count == 1
