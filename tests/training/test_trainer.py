import json

import pytest
import torch

from rnnkit.cells.state import detach_state
from rnnkit.data.batching import Window
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training.trainer import TrainConfig, Trainer, evaluate

TEXT = "to be or not to be, that is the question; whether 'tis nobler in the mind\n" * 30


def setup(seed=0, **train):
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(seed)
    model = LanguageModel(LanguageModelConfig(len(vocab), hidden_size=16, num_layers=1), vocab)
    ids = vocab.encode(TEXT)
    config = TrainConfig(
        **{"batch_size": 4, "bptt": 16, "max_steps": 20, "eval_every": 10, **train}
    )
    return model, ids[:1800], ids[1800:], config


def test_two_seeded_runs_are_bit_identical():
    runs = []
    for _ in range(2):
        model, train, valid, config = setup()
        Trainer(model, train, valid, config, progress=False).fit()
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_keeps_best_checkpoint_and_logs_metrics(tmp_path):
    model, train, valid, config = setup(max_steps=30)
    trainer = Trainer(model, train, valid, config, out_dir=tmp_path, progress=False)
    trainer.fit()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    lines = [m for m in records if m["kind"] == "valid"]
    assert [m["step"] for m in lines] == [10, 20, 30]
    train = [m for m in records if m["kind"] == "train"]
    assert [m["step"] for m in train] == [10, 20, 30]  # log_every 10 by default
    assert all(m["lr"] == config.lr and m["loss"] > 0 and m["tokens"] for m in train)
    best = min(m["valid_nats"] for m in lines)
    loaded = LanguageModel.from_pretrained(tmp_path)
    assert evaluate(loaded, valid, batch_size=16, bptt=16) == pytest.approx(best, rel=1e-6)
    assert lines[-1]["valid_bits"] == pytest.approx(lines[-1]["valid_nats"] / 0.693147, rel=1e-5)


def test_learning_lowers_validation_loss():
    model, train, valid, config = setup(max_steps=150, eval_every=150, lr=1e-2)
    before = evaluate(model, valid, batch_size=16, bptt=16)
    Trainer(model, train, valid, config, progress=False).fit()
    assert evaluate(model, valid, batch_size=16, bptt=16) < before - 1.0


def test_gradient_is_clipped_to_global_norm():
    model, train, valid, config = setup(clip_norm=1e-3, max_steps=1)
    trainer = Trainer(model, train, valid, config, progress=False)
    norms = []
    trainer.optimizer.step = lambda: norms.append(  # read the clipped gradient, skip the update
        torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    )
    trainer.train_step(Window(*trainer.source.read(16)))
    assert norms[0].item() == pytest.approx(1e-3, rel=1e-4)


def test_train_loss_record_is_mean_over_log_window(tmp_path):
    model, train, valid, config = setup(max_steps=6, log_every=3, eval_every=6)
    losses = []
    callbacks = {"on_step_end": [lambda t, m: losses.append(m["loss"])]}
    Trainer(
        model, train, valid, config, out_dir=tmp_path, callbacks=callbacks, progress=False
    ).fit()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_records = [m for m in records if m["kind"] == "train"]
    assert [m["loss"] for m in train_records] == pytest.approx(
        [sum(losses[:3]) / 3, sum(losses[3:]) / 3], rel=1e-12
    )


def test_validation_draws_nothing_from_the_training_rng():
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(0)
    model = LanguageModel(
        LanguageModelConfig(len(vocab), hidden_size=16, num_layers=2, dropout=0.5), vocab
    )
    ids = vocab.encode(TEXT)
    trainer = Trainer(model, ids[:1800], ids[1800:], TrainConfig(max_steps=1), progress=False)
    before = torch.get_rng_state()
    trainer.validate(0.0, 0.0, 0)
    assert torch.equal(torch.get_rng_state(), before) and model.training


def test_state_is_detached_between_chunks():
    h = torch.randn(2, 3, requires_grad=True) * 2
    out = detach_state((h, h + 1))
    assert all(not t.requires_grad for t in out) and torch.equal(out[0], h)


def test_budget_is_required():
    with pytest.raises(ValueError, match="budget"):
        TrainConfig()
