"""Mixed precision: bf16 autocast, fp16 gradient scaling, float32 checkpoints, exact resume.

This CI machine's CPU has no native bfloat16 (AVX2), where the trainer refuses bf16; the
bf16 runs below pretend otherwise (``cpu_has_bf16``) and use the fused-kernel path (zoneout
LSTM, GRU), which works anywhere: torch's oneDNN LSTM needs the native support.
"""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.layers import GRU, LSTM
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig
from rnnkit.training import precision as precision_module
from rnnkit.training.metrics_log import read_metrics
from rnnkit.training.precision import Precision, PrecisionError, cpu_has_bf16
from rnnkit.training.trainer import TrainConfig, Trainer
from training.test_checkpoint import CrashError, crash_at, without_timing

#: bf16 keeps 8 significant bits: the LM's log-probabilities move by at most this (nats)
LOGPROB_TOLERANCE = 0.02


@pytest.fixture
def bf16_cpu(monkeypatch):
    """Let the trainer run bf16 on this CPU (slow emulated matmuls; tiny models only)."""
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: True)


def make_trainer(out_dir=None, *, cell="lstm", **overrides):
    ids = torch.tensor([ord(c) % 24 for c in "a stitch in time saves nine; waste not. " * 12])
    torch.manual_seed(0)
    extra = {"zoneout": 0.1} if cell == "lstm" else {}
    config = LanguageModelConfig(24, cell=cell, hidden_size=16, num_layers=2, dropout=0.2, **extra)
    fields = {
        "batch_size": 4,
        "bptt": 10,
        "random_bptt": True,
        "max_steps": 24,
        "eval_every": 6,
        "save_every": 8,
        "log_every": 1,
        "precision": "bf16",
        **overrides,
    }
    model = LanguageModel(config)
    return Trainer(
        model, ids[:400], ids[400:], TrainConfig(**fields), out_dir=out_dir, progress=False
    )


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# -- what runs where ----------------------------------------------------------------------


def test_fp16_on_the_cpu_is_refused():
    with pytest.raises(PrecisionError, match="fp16 runs only on CUDA") as e:
        make_trainer(precision="fp16")
    assert "\n" not in str(e.value)


def test_the_command_line_refuses_fp16_in_one_line(tmp_path):
    (tmp_path / "t.txt").write_text("to be or not to be. " * 60)
    args = ("train", "lm", "--text", "t.txt", "--preset", "tiny", "--precision", "fp16")
    result = rnnkit(*args, "--out", "run", cwd=tmp_path)
    assert_one_line_error(result, "precision fp16 runs only on CUDA")
    assert not (tmp_path / "run").exists()


def test_bf16_is_refused_on_a_cpu_without_native_bfloat16(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: False)
    with pytest.raises(PrecisionError, match="bf16 needs a CPU with native bfloat16"):
        make_trainer()


def test_unknown_precision_is_a_config_error():
    expected = "precision must be one of 'fp32', 'bf16', 'fp16', got 'fp8'"
    with pytest.raises(ValueError, match=expected):
        TrainConfig(max_steps=1, precision="fp8")


def test_autocast_runs_matmuls_in_bf16_and_the_loss_in_float32(bf16_cpu):
    x, w, y = torch.randn(4, 8), torch.randn(6, 8), torch.tensor([0, 1, 2, 5])
    with Precision("bf16", "cpu").autocast():
        logits = F.linear(x, w)
        loss = F.cross_entropy(logits, y)
    assert logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, F.cross_entropy(x @ w.T, y), atol=0.05, rtol=0.0)
    with Precision("fp32", "cpu").autocast():
        assert F.linear(x, w).dtype == torch.float32


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bf16_forward_matches_fp32_within_tolerance(cell):
    torch.manual_seed(1)
    extra = {"zoneout": 0.1} if cell == "lstm" else {}  # the fused kernels' path
    model = LanguageModel(LanguageModelConfig(30, cell=cell, hidden_size=32, **extra)).eval()
    x = torch.randint(0, 30, (3, 25))
    with torch.no_grad():
        exact, _ = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low, state = model(x)
    assert low.dtype == torch.bfloat16  # the output layer ran in bf16...
    assert all(s.dtype == torch.float32 for s in (state if cell == "lstm" else [state]))
    diff = (low.float().log_softmax(-1) - exact.log_softmax(-1)).abs()
    assert 0 < diff.max() <= LOGPROB_TOLERANCE  # ...and changed the numbers, a little


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16")
def test_native_lstm_runs_in_bf16_under_cpu_autocast():
    lstm, x = torch.nn.LSTM(8, 16, batch_first=True), torch.randn(2, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = lstm(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), lstm(x)[0], atol=0.03, rtol=0.0)


@pytest.mark.parametrize("make", [lambda: GRU(6, 8, fused=True), lambda: LSTM(6, 8, zoneout=0.2)])
def test_fused_kernels_take_bf16_inputs_and_keep_float32_gradients(make):
    torch.manual_seed(0)
    layer, x = make(), torch.randn(7, 3, 6)
    out, _ = layer(x)
    out.sum().backward()
    exact = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    torch.manual_seed(0)  # the same zoneout draws
    layer, x = make(), torch.randn(7, 3, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_bf16, _ = layer(x)
    out_bf16.sum().backward()
    assert out_bf16.dtype == torch.float32  # the recurrence ran in float32
    torch.testing.assert_close(out_bf16, out, atol=0.03, rtol=0.0)
    for p, g in zip(layer.parameters(), exact, strict=True):
        assert p.grad.dtype == torch.float32
        torch.testing.assert_close(p.grad, g, atol=0.1, rtol=0.03)


# -- training in bf16 -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_two_seeded_bf16_runs_are_bit_identical(bf16_cpu, cell):
    runs = []
    for _ in range(2):
        trainer = make_trainer(cell=cell, max_steps=12)
        trainer.fit()
        runs.append((flat(trainer.model), [r["valid_nats"] for r in trainer.history]))
    assert torch.equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_bf16_training_differs_from_fp32_but_learns_alike(bf16_cpu):
    results = {}
    for precision in ("fp32", "bf16"):
        trainer = make_trainer(precision=precision, max_steps=24)
        trainer.fit()
        results[precision] = (flat(trainer.model), trainer.history[-1]["valid_nats"])
    assert not torch.equal(results["fp32"][0], results["bf16"][0])  # bf16 really ran
    assert results["bf16"][1] == pytest.approx(results["fp32"][1], abs=0.05)


def test_bf16_checkpoints_stay_float32(bf16_cpu, tmp_path):
    trainer = make_trainer(tmp_path, max_steps=8)
    trainer.fit()
    step = tmp_path / "trainer_state" / "step-000008"
    for path in (tmp_path / "model.safetensors", step / "model.safetensors"):
        assert {t.dtype for t in load_file(path).values()} == {torch.float32}
    state = load_file(step / "trainer.safetensors")
    kept = [t for k, t in state.items() if k.startswith(("optimizer.", "hidden."))]
    assert kept and all(t.dtype == torch.float32 for t in kept)  # Adam moments, carried state
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


def test_a_bf16_run_crashed_and_resumed_ends_bit_identical(bf16_cpu, tmp_path):
    whole = make_trainer(tmp_path / "whole")
    whole.fit()
    crashed = make_trainer(tmp_path / "crashed")
    crashed.callbacks = crash_at(19)
    with pytest.raises(CrashError):
        crashed.fit()
    resumed = make_trainer(tmp_path / "crashed")
    assert resumed.resume() == 16
    resumed.fit()
    assert without_timing(read_metrics(tmp_path / "crashed")) == without_timing(
        read_metrics(tmp_path / "whole")
    )
    assert torch.equal(flat(resumed.model), flat(whole.model))


def test_resume_refuses_another_precision(bf16_cpu, tmp_path):
    make_trainer(tmp_path, max_steps=8).fit()
    other = make_trainer(tmp_path, precision="fp32", max_steps=16)
    with pytest.raises(ValueError, match=r"other training settings \(precision\)"):
        other.resume()


# -- gradient scaling (fp16 on CUDA; its mechanics tested here with a CPU scaler) ------------


def scaled(trainer, scale=2.0**12, **how):
    """The trainer with a CPU gradient scaler (what fp16 on CUDA gets), autocast off."""
    scaler = torch.amp.GradScaler("cpu", init_scale=scale, **how)
    trainer.precision = Precision("fp32", "cpu", scaler=scaler)
    return trainer


def test_a_power_of_two_loss_scale_trains_exactly_like_no_scale():
    plain = make_trainer(precision="fp32", max_steps=10)
    plain.fit()
    scaled_run = scaled(make_trainer(precision="fp32", max_steps=10))
    scaled_run.fit()
    assert torch.equal(flat(plain.model), flat(scaled_run.model))
    assert scaled_run.precision.scaler.get_scale() == 2.0**12  # no overflow, no growth yet


def test_overflowing_steps_are_skipped_and_the_scale_halved():
    trainer = scaled(make_trainer(precision="fp32", max_steps=3, eval_every=100))
    after_first = []

    def overflow_from_step_2(t, m):
        if m["step"] == 1:
            after_first.append(flat(t.model))
            t.model.proj.bias.register_hook(lambda g: g * float("inf"))

    trainer.callbacks = {"on_step_end": [overflow_from_step_2]}
    trainer.fit()  # no NonFiniteError: the scaler skips the steps
    assert trainer.step == 3
    assert torch.equal(flat(trainer.model), after_first[0])  # steps 2 and 3 changed nothing
    assert trainer.precision.scaler.get_scale() == 2.0**10  # halved twice


def test_scaler_state_resumes(tmp_path):
    trainer = make_trainer(tmp_path, precision="fp32", max_steps=8)
    scaled(trainer, scale=2.0**5, growth_interval=3)  # doubles after 3 clean steps
    trainer.fit()
    assert trainer.precision.scaler.get_scale() == 2.0**7
    resumed = scaled(make_trainer(tmp_path, precision="fp32", max_steps=8), scale=1.0)
    resumed.resume()
    assert resumed.precision.state_dict() == trainer.precision.state_dict()
