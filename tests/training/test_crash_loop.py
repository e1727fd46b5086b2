"""A training run killed by SIGKILL 20 times in a row, resumed each time, ends bit-identical.

Each round runs ``rnnkit train lm`` (``--resume`` after the first) in a child process that
SIGKILLs itself at a seeded random moment: the k-th of the events it passes, which are
every update's end, every ``os.fsync`` and every ``os.replace`` -- so kills land inside
training steps and at every stage of a checkpoint write (temporary file written but not
synced, synced but not renamed, renamed but the directory not yet synced). The run
resumed after the 20th kill must end with the weights, trainer state and metrics of an
uninterrupted run. Like the kill helper of ``cli_helpers.py`` (``KILLER``) the process
kills itself at an event; the children are forked from this already-warm process rather
than started afresh, so 21 runs cost no 21 imports of torch.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import traceback
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.training.checkpoint import step_dirs
from rnnkit.training.trainer import Trainer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

RUN = [
    "train", "lm", "--preset", "tiny", "--hidden-size", "16", "--batch-size", "4",
    "--bptt", "16", "--tbptt-k2", "12", "--random-bptt", "--dropout", "0.2",
    "--max-steps", "60", "--save-every", "2", "--eval-every", "4", "--log-every", "1",
    "--no-progress", "--sample-length", "0", "--seed", "3",
]  # fmt: skip
RESUME = ["train", "lm", "--resume"]
KILLS, MOST_EVENTS = 20, 60
TIMING = ("elapsed_s", "tokens_per_s")


def arm(kill_at: int, log: Path) -> None:
    """In the child: SIGKILL this process at the ``kill_at``-th event, noting which one."""
    seen = [0]
    fsync, replace, emit = os.fsync, os.replace, Trainer.emit

    def event(name: str) -> None:
        seen[0] += 1
        if seen[0] == kill_at:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.write(fd, f"{name}\n".encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)

    def killing_fsync(fd):
        event("fsync")
        return fsync(fd)

    def killing_replace(src, dst):
        event("replace")
        return replace(src, dst)

    def killing_emit(self, name, metrics):
        emit(self, name, metrics)
        if name == "on_step_end":
            event("step")

    os.fsync, os.replace, Trainer.emit = killing_fsync, killing_replace, killing_emit


def run_child(argv: list[str], cwd: Path, *, kill_at: int | None = None) -> tuple[int, str]:
    """``rnnkit ARGV`` in a forked child: its exit code (-9: killed) and its stderr."""
    err_path = cwd / "child.err"
    pid = os.fork()
    if pid == 0:  # the child never returns: it exits, or is killed
        code = 70
        try:
            signal.alarm(300)  # a hang ends the child (SIGALRM), not the test session
            os.chdir(cwd)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the child exits below)
            sys.stderr = open(err_path, "w")  # noqa: SIM115
            if kill_at is not None:
                arm(kill_at, cwd / "kills.log")
            code = main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err_path.read_text()


def records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines]


def same_tensors(a: Path, b: Path) -> bool:
    x, y = load_file(a), load_file(b)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture
def one_thread():
    """One torch thread (as tests/conftest.py sets): no OpenMP pool for the forks to inherit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_twenty_sigkills_then_resume_equal_an_uninterrupted_run(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("ROMEO: O, she doth teach the torches to burn bright!\n" * 60)
    args = [*RUN, "--text", str(text)]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0  # also warms every import
    capsys.readouterr()
    rng = random.Random(16)
    for round_ in range(KILLS):
        argv = [*args, "--out", "killed"] if round_ == 0 else [*RESUME, "killed", "--no-progress"]
        code, err = run_child(argv, tmp_path, kill_at=rng.randint(1, MOST_EVENTS))
        assert code == -signal.SIGKILL, f"round {round_}: exit {code}\n{err}"
    resumed_from = int(step_dirs(tmp_path / "killed")[-1].name.removeprefix("step-"))
    assert 20 <= resumed_from < 60  # the kills were spread over the run, not all at its start
    code, err = run_child([*RESUME, "killed", "--no-progress"], tmp_path)
    assert code == 0, err
    kills = (tmp_path / "kills.log").read_text().split()
    assert len(kills) == KILLS and {"step", "fsync", "replace"} <= set(kills)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    assert records(killed) == records(whole)  # every loss, lr, gradient norm, validation
    assert same_tensors(killed / "model.safetensors", whole / "model.safetensors")
    last = "trainer_state/step-000060/trainer.safetensors"
    assert same_tensors(killed / last, whole / last)
    left = [p for p in killed.rglob(".*") if p.name != ".gitignore"]
    assert not left  # no temporary file or directory of a killed write remains
