"""The command line as a user meets it: subprocesses, exit codes, one-line errors."""

import json
import math
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, rnnkit
from rnnkit.cli import main

TINY = ["--preset", "tiny", "--no-progress", "--sample-length", "40"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "ckpt"
    text = tmp_path_factory.mktemp("text") / "t.txt"
    text.write_text("ROMEO: O, she doth teach the torches to burn bright!\n" * 40)
    result = rnnkit("train", "lm", "--text", str(text), "--out", str(out), *TINY, cwd=out.parent)
    assert result.returncode == 0, result.stderr
    assert "best validation:" in result.stdout and "--- sample ---" in result.stdout
    return out


def test_train_writes_checkpoint_and_metrics(trained):
    assert (trained / "config.json").is_file() and (trained / "model.safetensors").is_file()
    records = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "valid"] == [10, 20, 30]
    assert [r["step"] for r in records if r["kind"] == "train"] == [10, 20, 30]
    assert (trained / "trainer_state" / "step-000030" / "trainer.safetensors").is_file()


def test_two_seeded_runs_write_identical_metrics(trained):
    again = trained.parent / "again"
    run = json.loads((trained / "trainer_state" / "run.json").read_text())
    text = run["data"]["text"]  # the fixture's text, recorded as an absolute path
    result = rnnkit("train", "lm", "--text", text, "--out", str(again), *TINY, cwd=again.parent)
    assert result.returncode == 0, result.stderr

    def losses(run):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        keep = ("kind", "step", "loss", "train_loss", "valid_nats", "lr", "grad_norm")
        return [{k: v for k, v in json.loads(x).items() if k in keep} for x in lines]

    assert losses(again) == losses(trained) and len(losses(trained)) == 6


def test_seeded_sample_is_reproducible(trained):
    args = ["sample", "--checkpoint", str(trained), "--prime", "ROMEO:", "--length", "60"]
    first = rnnkit(*args, "--seed", "7", cwd=trained)
    second = rnnkit(*args, "--seed", "7", cwd=trained)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.startswith("ROMEO:")
    assert len(first.stdout.rstrip("\n")) >= len("ROMEO:") + 50


def test_prime_with_unknown_characters(trained):
    result = rnnkit("sample", "--checkpoint", str(trained), "--prime", "ZoÉ", cwd=trained)
    assert_one_line_error(result, "--prime", "'Z'", "'É'")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such file"),
        (b"", "file is empty"),
        (b"ab\x00c", "binary"),
        (b"abc\xe9d", "byte offset 3"),
    ],
)
def test_bad_text_files(tmp_path, content, needle):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    result = rnnkit("train", "lm", "--text", str(path), "--out", "o", *TINY, cwd=tmp_path)
    assert_one_line_error(result, str(path), needle)


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--dropout", "1.5", "[0.0, 1.0)"),
        ("--hidden-size", "0", "[1, 65536]"),
        ("--lr", "abc", "expected float"),
        ("--cell", "lstmx", "invalid choice"),
    ],
)
def test_bad_option_values(tmp_path, option, value, needle):
    result = rnnkit("train", "lm", option, value, *TINY, cwd=tmp_path)
    assert_one_line_error(result, option, needle)


def test_missing_and_corrupt_checkpoints(tmp_path, trained):
    result = rnnkit("sample", "--checkpoint", str(tmp_path / "nope"), cwd=tmp_path)
    assert_one_line_error(result, "nope", "no such checkpoint")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"\x01" * 20)
    result = rnnkit("sample", "--checkpoint", str(broken), cwd=tmp_path)
    assert_one_line_error(result, "model.safetensors", "corrupt")


def test_existing_checkpoint_survives_later_failures(tmp_path, trained):
    before = (trained / "model.safetensors").read_bytes()
    result = rnnkit("train", "lm", "--out", str(trained), *TINY, cwd=tmp_path)
    assert_one_line_error(result, "already holds a checkpoint", "--overwrite")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    result = rnnkit(
        "train", "lm", "--text", str(bad), "--out", str(trained), "--overwrite", *TINY, cwd=tmp_path
    )
    assert_one_line_error(result, "not valid UTF-8")
    assert (trained / "model.safetensors").read_bytes() == before


def run_main(capsys, *args: str) -> tuple[int, str]:
    """The CLI in this process (fast): exit status and stderr."""
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "needles"),
    [
        (["--momentum", "1.5"], ["--momentum", "[0.0, 1.0)", "1.5"]),
        (["--tbptt-k2", "0"], ["--tbptt-k2", "[1, 100000]"]),
        (["--warmup-steps", "-1"], ["--warmup-steps", "[0, 1000000000]"]),
        (["--keep-last", "0"], ["--keep-last", "must be in [1"]),
        (["--clip-norm", "-1"], ["--clip-norm", "must be in [0.0"]),
        (["--on-nan", "ignore"], ["--on-nan", "invalid choice", "'skip'"]),
        (["--schedule", "linear"], ["--schedule", "invalid choice", "'cosine'"]),
        (["--optimizer", "adagrad"], ["--optimizer", "invalid choice", "'rmsprop'"]),
        (["--tbptt-k2", "40"], ["--tbptt-k2 must be in [1, --bptt=32], got 40"]),
        (["--momentum", "0.9"], ["--momentum needs --optimizer sgd or nt-asgd"]),
        (["--nt-asgd-window", "3"], ["--nt-asgd-window needs --optimizer nt-asgd"]),
        (["--optimizer", "adam", "--nt-asgd-window", "3"], ["needs --optimizer nt-asgd"]),
        (["--decay-every", "9"], ["--decay-every needs --schedule step"]),
        (["--schedule", "cosine", "--warmup-steps", "30"], ["warmup_steps must be < max_steps=30"]),
    ],
)
def test_bad_training_options(tmp_path, capsys, options, needles):
    code, err = run_main(capsys, "train", "lm", *TINY, "--out", str(tmp_path / "o"), *options)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    assert not (tmp_path / "o").exists()


def test_resume_takes_only_a_budget(tmp_path, capsys, trained):
    code, err = run_main(capsys, "train", "lm", "--resume", str(trained), "--lr", "0.1")
    assert code == 2 and "drop --lr" in err and "--max-steps" in err, err
    code, err = run_main(capsys, "train", "lm", "--resume", str(tmp_path / "nope"))
    assert code == 2 and "nope: no such run directory" in err, err
    code, err = run_main(capsys, "train", "lm", *TINY, "--out", str(trained))
    assert code == 2 and f"--resume {trained}" in err, err


def test_nan_loss_stops_with_one_line(tmp_path, capsys, monkeypatch):
    from rnnkit.tasks import language_model

    calls = []

    def nan_at_5(model, x, y, state):
        calls.append(1)
        loss, state = next_token_loss(model, x, y, state)
        return (loss * math.nan if len(calls) == 5 else loss), state

    next_token_loss = language_model.next_token_loss
    monkeypatch.setattr(language_model, "next_token_loss", nan_at_5)
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be\n" * 50)
    out = tmp_path / "o"
    args = ["train", "lm", "--text", str(text), "--out", str(out), *TINY, "--save-every", "2"]
    code, err = run_main(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "rnnkit: error: non-finite training loss at step 5: loss is nan" in err
    steps = sorted(p.name for p in (out / "trainer_state").glob("step-*"))
    assert steps == ["step-000002", "step-000004"]  # the last good checkpoints stay


def test_help_has_examples(tmp_path):
    result = rnnkit("train", "lm", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "examples:" in result.stdout and "presets:" in result.stdout
    assert "--resume" in result.stdout and "torchrun" in result.stdout


def test_top_p_must_be_positive(capsys):
    code, err = run_main(capsys, "sample", "--checkpoint", "runs/lm", "--top-p", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--top-p" in err and "must be in (0.0, 1.0], got 0" in err, err


def test_sample_refuses_a_checkpoint_of_another_kind(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"format": "rnnkit.sequence_classifier/1"}))
    code, err = run_main(capsys, "sample", "--checkpoint", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is a rnnkit.sequence_classifier/1 checkpoint" in err and "language model" in err, err


def test_text_shorter_than_one_batch(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text("0123456789")
    out = tmp_path / "o"
    code, err = run_main(capsys, "train", "lm", "--text", str(text), "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{text}: 10 characters" in err and "batch size 64" in err and "73" in err, err
    assert not out.exists()


def test_ss_k_needs_scheduled_sampling(tmp_path, capsys):
    code, err = run_main(capsys, "train", "lm", *TINY, "--out", str(tmp_path / "o"), "--ss-k", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--ss-k needs --scheduled-sampling" in err, err
    assert not (tmp_path / "o").exists()


def test_a_short_budget_caps_the_presets_warmup(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be\n" * 20)
    small = ["--hidden-size", "8", "--num-layers", "1", "--batch-size", "2", "--bptt", "8"]
    args = ["--preset", "default", "--max-steps", "3", *small, "--sample-length", "0"]
    out = tmp_path / "o"
    code, err = run_main(
        capsys, "train", "lm", *args, "--no-progress", "--text", str(text), "--out", str(out)
    )
    assert code == 0, err
    assert err.strip() == (
        "note: --max-steps 3 is shorter than the preset's 50 warm-up steps; warm-up set to 0"
    )
    record = json.loads((out / "trainer_state" / "run.json").read_text())
    assert record["training"]["warmup_steps"] == 0


def test_bare_rnnkit_lists_the_commands_and_version_prints_it(capsys):
    import rnnkit

    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rnnkit") and all(c in err for c in ("train", "classify", "serve"))
    assert main(["train"]) == 2
    assert "classify" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"rnnkit {rnnkit.__version__}\n"
