"""The command line as a user meets it: subprocesses, exit codes, one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--preset", "tiny", "--no-progress", "--sample-length", "40"]


def rnnkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


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
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 3  # steps 10, 20, 30


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


def test_help_has_examples(tmp_path):
    result = rnnkit("train", "lm", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "examples:" in result.stdout and "presets:" in result.stdout
