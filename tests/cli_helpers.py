"""Running the command line as a user would, in this process or a real one (shared by the CLI
tests)."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

#: runs the real CLI, killing the process with SIGKILL right after update $KILL_AT
KILLER = """
import os, signal, sys
from rnnkit.training.trainer import Trainer
emit = Trainer.emit
def killing_emit(self, event, metrics):
    emit(self, event, metrics)
    if event == "on_step_end" and metrics["step"] == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
Trainer.emit = killing_emit
from rnnkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def command(*args, kill_at: int | None = None) -> tuple[list[str], dict[str, str]]:
    """``python -m rnnkit.cli ARGS`` (or the killing variant) and its environment."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill_at is None:
        return [sys.executable, "-m", "rnnkit.cli", *map(str, args)], env
    env["KILL_AT"] = str(kill_at)
    return [sys.executable, "-c", KILLER, *map(str, args)], env


def rnnkit(
    *args, cwd: Path, kill_at: int | None = None, isolated: bool = False
) -> subprocess.CompletedProcess:
    """Run the CLI to completion: exit status, stdout and stderr.

    In this process (``main(argv)`` with stdout and stderr captured, in ``cwd``): a fresh
    process per call would spend most of its time importing torch. ``isolated`` (and
    ``kill_at``, which kills its process) runs a real process, as a user's shell would.
    """
    if isolated or kill_at is not None:
        argv, env = command(*args, kill_at=kill_at)
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    from rnnkit.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse's --help and usage errors
                code = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit status 2, one line on stderr holding every needle, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
