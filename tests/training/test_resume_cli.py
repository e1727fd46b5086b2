"""A run killed with SIGKILL, then resumed with ``--resume``, equals an uninterrupted run."""

import json
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cli_helpers import command
from rnnkit.cli import main

RUN = [
    "train", "lm", "--preset", "tiny", "--max-steps", "60", "--save-every", "10",
    "--log-every", "1", "--dropout", "0.2", "--random-bptt", "--tbptt-k2", "24",
    "--no-progress", "--sample-length", "0",
]  # fmt: skip
TIMING = ("elapsed_s", "tokens_per_s")


def start(args, cwd, *, kill_at=None):
    argv, env = command(*args, kill_at=kill_at)
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process):
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def records(run: Path):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run killed by SIGKILL, while the same run goes uninterrupted in this process; then
    the killed run resumed in a new process."""
    tmp = tmp_path_factory.mktemp("resume")
    text = tmp / "text.txt"
    text.write_text("ROMEO: O, she doth teach the torches to burn bright!\n" * 60)
    args = [*RUN, "--text", str(text)]
    killed = start([*args, "--out", "killed"], tmp, kill_at=37)
    assert main([*args, "--out", str(tmp / "whole")]) == 0
    code, _, _ = finish(killed)
    assert code == -signal.SIGKILL
    assert records(tmp / "killed")[-1]["step"] == 36  # died after update 37, before logging it
    code, out, err = finish(start(["train", "lm", "--resume", "killed", "--no-progress"], tmp))
    assert code == 0, err
    return tmp, out


def test_killed_and_resumed_run_has_the_uninterrupted_losses(runs):
    tmp, out = runs
    assert "after 60 steps (resumed from step 30)" in out
    resumed, whole = records(tmp / "killed"), records(tmp / "whole")
    assert [r["step"] for r in resumed if r["kind"] == "train"] == list(range(1, 61))
    assert resumed == whole  # every loss, lr, gradient norm and validation, bit for bit


def test_killed_and_resumed_run_ends_with_the_same_weights(runs):
    tmp, _ = runs
    for name in ("model.safetensors", "trainer_state/step-000060/trainer.safetensors"):
        a, b = load_file(tmp / "killed" / name), load_file(tmp / "whole" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_resume_a_finished_run_with_a_larger_budget(runs, capsys):
    tmp, _ = runs
    out = tmp / "killed"
    assert main(["train", "lm", "--resume", str(out), "--max-steps", "70", "--no-progress"]) == 0
    assert "after 70 steps (resumed from step 60)" in capsys.readouterr().out
    assert [r["step"] for r in records(out) if r["kind"] == "valid"][-2:] == [60, 70]
