"""The NumPy character RNN: it learns a small text, samples its alphabet, is seeded, and fails
cleanly on a bad file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.reference.char_rnn import main, sample, train

TEXT = "hello world " * 50  # V = 8: " dehlorw"


def command(*args: object) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "rnnkit.reference.char_rnn", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_learns_a_repetitive_text_and_samples_its_alphabet() -> None:
    run = train(TEXT, hidden=32, seq_length=25, steps=1200, sample_every=400)
    start = np.log(8)  # ln V: a uniform guess
    assert run.chars == sorted(set(TEXT))
    assert run.losses[0] == pytest.approx(start, abs=0.01)
    assert run.losses[-1] < 0.5 * start, run.losses[-1]
    assert len(run.samples) == 3
    assert all(len(s) == 200 and set(s) <= set(TEXT) for s in run.samples)
    rng = np.random.default_rng(5)
    drawn = sample(run.params, np.zeros((1, 32)), 0, 500, rng)
    assert all(0 <= i < len(run.chars) for i in drawn)
    assert "hello" in run.samples[-1] or "world" in run.samples[-1]


def test_seeded_runs_are_identical() -> None:
    a, b = (train(TEXT, hidden=16, steps=60, sample_every=30, seed=3) for _ in range(2))
    c = train(TEXT, hidden=16, steps=60, sample_every=30, seed=4)
    assert a.losses == b.losses and a.samples == b.samples
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert a.losses != c.losses


def test_a_text_shorter_than_a_chunk_still_trains() -> None:
    run = train("abcab", hidden=8, seq_length=25, steps=20, sample_every=20)
    assert len(run.losses) == 20 and set(run.samples[0]) <= set("abc")


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "needs at least 2 characters"), (b"\xff\xfeab", "not UTF-8")],
)
def test_bad_file_is_one_line_and_status_2(tmp_path: Path, capsys, content, needle) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and str(path) in err


def test_directory_is_one_line_and_status_2(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_bad_option_is_status_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "any.txt"), "--hidden", "0"])
    assert exit_info.value.code == 2
    assert "--hidden: must be > 0, got 0" in capsys.readouterr().err


def test_command_line(tmp_path: Path) -> None:
    missing = command(tmp_path / "missing.txt")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    path = tmp_path / "hello.txt"
    path.write_text(TEXT, encoding="utf-8")
    ok = command(path, "--hidden", 8, "--steps", 20, "--sample-every", 10, "--seed", 1)
    assert ok.returncode == 0, ok.stderr
    assert "step 10, smoothed loss" in ok.stdout and "done: 20 steps" in ok.stdout
