"""Resumable checkpoints: exact continuation after a crash, file formats, atomicity, pruning."""

import json
import math
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rnnkit.cells.state import LSTMState, flatten_state, unflatten_state
from rnnkit.errors import CheckpointError
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training import checkpoint as ckpt
from rnnkit.training import trainer as trainer_module
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.schedules import build_optimizer
from rnnkit.training.trainer import TrainConfig, Trainer

TEXT = "It was the best of times, it was the worst of times, it was the age of wisdom.\n" * 12
TIMING = ("elapsed_s", "tokens_per_s")


class CrashError(Exception):
    """Stands for the process dying."""


def make_trainer(out_dir, **overrides):
    ids = torch.tensor([ord(ch) % 40 for ch in TEXT])
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(40, hidden_size=12, num_layers=2, dropout=0.3))
    fields = {
        "batch_size": 4,
        "bptt": 12,
        "tbptt_k2": 8,
        "random_bptt": True,
        "max_steps": 40,
        "eval_every": 7,
        "save_every": 10,
        "log_every": 1,
        "schedule": "plateau",
        "plateau_patience": 1,
        **overrides,
    }
    return Trainer(
        model, ids[:850], ids[850:], TrainConfig(**fields), out_dir=out_dir, progress=False
    )


def crash_at(step):
    def callback(trainer, metrics):
        if metrics["step"] == step:
            raise CrashError

    return {"on_step_end": [callback]}


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_resumed_run_repeats_the_uninterrupted_run_exactly(tmp_path, monkeypatch):
    real = trainer_module.evaluate  # coarse validation losses, so that the plateau lr decays
    monkeypatch.setattr(
        trainer_module, "evaluate", lambda *a, **k: math.ceil(real(*a, **k) * 4) / 4
    )
    whole = make_trainer(tmp_path / "whole")
    whole.fit()
    crashed = make_trainer(tmp_path / "crashed")
    crashed.callbacks = crash_at(27)  # the checkpoint at 20 ends epoch 0; the lr has decayed
    with pytest.raises(CrashError):
        crashed.fit()
    resumed = make_trainer(tmp_path / "crashed")
    assert resumed.resume() == 20
    resumed.fit()
    assert without_timing(read_metrics(tmp_path / "crashed")) == without_timing(
        read_metrics(tmp_path / "whole")
    )
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.source.epoch == whole.source.epoch > 0
    assert resumed.schedule.decays == whole.schedule.decays >= 2


def test_step_directory_is_safetensors_and_json(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=10)
    trainer.fit()
    step = tmp_path / "trainer_state" / "step-000010"
    assert sorted(p.name for p in step.iterdir()) == [
        "config.json",
        "model.safetensors",
        "trainer.json",
        "trainer.safetensors",
    ]
    tensors = load_file(step / "trainer.safetensors")
    assert tensors["rng.torch.0"].dtype == torch.uint8
    assert torch.equal(tensors["rng.torch.0"], torch.get_rng_state())  # saved after the step
    h, c = trainer.state
    assert torch.equal(tensors["hidden.0.0"], h) and torch.equal(tensors["hidden.0.1"], c)
    meta = json.loads((step / "trainer.json").read_text())
    assert meta["step"] == 10 and meta["data"]["position"] == trainer.source.position
    assert LanguageModel.from_pretrained(step).config.hidden_size == 12  # a model checkpoint too


def test_keeps_the_last_n_and_the_best_model_at_top_level(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=60, keep_last=2)
    trainer.fit()
    assert [p.name for p in ckpt.step_dirs(tmp_path)] == ["step-000050", "step-000060"]
    best = min(r["valid_nats"] for r in read_metrics(tmp_path, "valid"))
    assert trainer.best_valid == best
    assert (tmp_path / "model.safetensors").is_file()


def test_a_failed_save_leaves_the_previous_checkpoints(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, max_steps=30)
    real = ckpt.save_file

    def failing(tensors, path):
        if "step-000030" in str(path):
            real(tensors, path)  # half the directory written, then the crash
            raise OSError("disk full")
        real(tensors, path)

    monkeypatch.setattr(ckpt, "save_file", failing)
    with pytest.raises(OSError, match="disk full"):
        trainer.fit()
    root = tmp_path / "trainer_state"
    assert sorted(p.name for p in root.iterdir()) == ["step-000010", "step-000020"]
    (root / ".step-000030.abc123").mkdir()  # what a SIGKILL mid-write leaves behind
    assert make_trainer(tmp_path).resume() == 20
    ckpt.clear_states(tmp_path)
    assert list(root.iterdir()) == []


def test_resume_refuses_other_settings_and_process_counts(tmp_path):
    make_trainer(tmp_path, max_steps=10).fit()
    with pytest.raises(CheckpointError, match=r"other training settings \(bptt, lr\)"):
        make_trainer(tmp_path, bptt=10, lr=0.1).resume()
    assert make_trainer(tmp_path, max_steps=99).resume() == 10  # the budget may change
    meta_path = tmp_path / "trainer_state" / "step-000010" / "trainer.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "world_size": 2}))
    with pytest.raises(CheckpointError, match="saved by 2 processes"):
        make_trainer(tmp_path).resume()
    meta_path.write_text("{")
    with pytest.raises(CheckpointError, match="unreadable trainer state"):
        make_trainer(tmp_path).resume()


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=3)
    assert trainer.resume() == 0
    trainer.fit()
    assert trainer.step == 3


@pytest.mark.parametrize(
    "state",
    [
        None,
        torch.randn(2, 3),
        (torch.randn(1, 2, 3), torch.randn(1, 2, 3)),
        LSTMState(torch.randn(2, 3), torch.randn(2, 3)),
        [LSTMState(torch.randn(2, 3), torch.randn(2, 3)), torch.randn(2, 4)],
    ],
)
def test_recurrent_state_round_trip(state, tmp_path):
    tensors, structure = flatten_state(state)
    back = unflatten_state(tensors, json.loads(json.dumps(structure)))
    assert type(back) is type(state)
    flat = lambda s: [s] if isinstance(s, torch.Tensor) else [t for x in s for t in flat(x)]  # noqa: E731
    if state is not None:
        assert all(torch.equal(a, b) for a, b in zip(flat(back), flat(state), strict=True))


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_optimizer_round_trip_is_exact(name, tmp_path):
    p = torch.nn.Parameter(torch.randn(3))
    config = TrainConfig(max_steps=1, optimizer=name, momentum=0.9 if name == "sgd" else 0)
    opt = build_optimizer([p], config)
    for _ in range(3):
        p.grad = torch.randn(3)
        opt.step()
    tensors, meta = ckpt.optimizer_to_files(opt)
    save_file(tensors, tmp_path / "o.safetensors")
    twin_p = torch.nn.Parameter(p.detach().clone())
    twin = build_optimizer([twin_p], config)
    ckpt.optimizer_from_files(
        twin, load_file(tmp_path / "o.safetensors"), json.loads(json.dumps(meta))
    )
    g = torch.randn(3)
    p.grad, twin_p.grad = g, g.clone()
    opt.step()
    twin.step()
    assert torch.equal(p, twin_p)


def test_global_rng_states_round_trip():
    random.seed(1)
    np.random.seed(2)
    meta = json.loads(json.dumps(ckpt.global_rng_meta()))
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(6)
    ckpt.restore_global_rng(meta)
    assert (random.random(), np.random.rand()) == expected


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_saved_states_pass_the_checks_and_edited_ones_fail_before_loading(tmp_path, optimizer):
    """``check_state`` takes what the trainer wrote (every optimizer, a plateau schedule, a
    carried LSTM state) and refuses a hand-edited counter and a moment of another shape
    without changing the resuming trainer."""
    options = {"optimizer": optimizer, "momentum": 0.9 if optimizer == "sgd" else 0.0}
    make_trainer(tmp_path, max_steps=10, **options).fit()
    assert make_trainer(tmp_path, **options).resume() == 10
    step = tmp_path / "trainer_state" / "step-000010"
    meta = json.loads((step / "trainer.json").read_text())
    (step / "trainer.json").write_text(json.dumps({**meta, "tokens": -1}))
    fresh = make_trainer(tmp_path, **options)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"step-000010/trainer.json: field tokens: "
                       r"expected an integer >= 0, got -1$"):  # fmt: skip
        fresh.resume()
    assert fresh.step == 0 and fresh.optimizer.state_dict()["state"] == {}
    assert all(torch.equal(v, before[k]) for k, v in fresh.model.state_dict().items())
    (step / "trainer.json").write_text(json.dumps(meta))
    tensors = load_file(step / "trainer.safetensors")
    name = next(k for k in sorted(tensors) if k.startswith("optimizer.0.") and tensors[k].dim())
    save_file({**tensors, name: tensors[name][:1].clone()}, step / "trainer.safetensors")
    with pytest.raises(CheckpointError, match=rf"trainer.safetensors: field {name}: shape \(1, "):
        make_trainer(tmp_path, **options).resume()
