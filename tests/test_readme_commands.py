"""Every shell command in README.md (and docs/export.md) runs as written, in order, after the
commands above it.

A page's ```bash blocks are read top to bottom (a trailing backslash joins lines, comments
are dropped) and each command runs in one temporary directory standing for the repository root
(``src`` and ``benchmarks`` are linked there, so ``src/rnnkit/...`` resolves). The substitution
rule, the only change made to a command:

- tiny budgets: ``rnnkit train ...`` gets ``--max-steps 2``; ``rnnkit plot gradients`` gets
  ``--steps 2``; any other ``--steps N`` becomes ``--steps 20``; ``python benchmarks/X.py`` gets
  ``--quick``;
- ``../shared/data`` becomes the shared data sets' real path (the test skips when it is absent);
- ``pip install ...`` is not run (the suite runs in the installed environment), nor is
  ``python -m pytest`` (this suite);
- ``rnnkit serve ...`` gets a free ``--port``, runs until its page answers, and is stopped.

``rnnkit ARGS`` runs as ``rnnkit.cli.main(ARGS)`` in this process (what the ``rnnkit`` script
calls: a process per command would spend two seconds importing torch each time); every other
command runs in bash. The default run leaves out the benchmarks and the commands that read the
large corpora (WikiText-2, SpamAssassin, UD English EWT, CMUdict) or a checkpoint one of them
made; ``python -m pytest -m slow tests/test_readme_commands.py`` runs every command. Each page
starts in a fresh directory.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXPORT = ROOT / "docs" / "export.md"
DATA = ROOT.parent / "shared" / "data"
#: a command naming one of these (or a checkpoint such a command made) runs only under -m slow
LARGE = ("wikitext-2", "spamassassin", "ud-en-ewt", "cmudict", "benchmarks/")
SHELL = {">", ">>", "<", "|", "&&", "||", ";"}


@dataclass
class Command:
    text: str  # after substitution
    slow: bool
    skip: str | None = None  # why it is not run at all


def shell_commands(markdown: str) -> list[str]:
    """The commands of every ```bash block, in order: continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()  # no '#' inside quotes in the README
            if line:
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def substitute(command: str, variables: dict[str, str]) -> str:
    """The substitution rule of the module docstring (all but serve's port)."""
    for name, value in variables.items():
        command = command.replace(f"${name}", value)
    command = command.replace("../shared/data", str(DATA))
    if command.startswith("rnnkit train "):
        return command + " --max-steps 2"
    if command.startswith("rnnkit plot gradients"):
        return command + " --steps 2"
    if command.startswith("python benchmarks/"):
        return command + " --quick"
    return re.sub(r"--steps \d+", "--steps 20", command)


def plan(commands: list[str]) -> list[Command]:
    """Each command substituted and marked slow (large corpora, benchmarks) or skipped."""
    planned, variables, slow_outputs = [], {}, set()
    for raw in commands:
        if assignment := re.fullmatch(r"(\w+)=(\S+)", raw):
            variables[assignment[1]] = assignment[2]
            continue
        text = substitute(raw, variables)
        words = shlex.split(text)
        slow = any(name in text for name in LARGE) or any(
            w.rstrip("/") in slow_outputs for w in words
        )
        if slow and "--out" in words:
            slow_outputs.add(words[words.index("--out") + 1].rstrip("/"))
        skip = None
        if words[:2] == ["pip", "install"]:
            skip = "the suite runs in the installed environment"
        elif words[:3] == ["python", "-m", "pytest"]:
            skip = "this suite"
        planned.append(Command(text, slow, skip))
    return planned


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_until_it_answers(command: str, cwd: Path) -> str:
    """Start ``rnnkit serve`` on a free port, wait for its page, stop it; '' or what failed."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "rnnkit.cli", *shlex.split(command)[1:], "--port", str(port)]
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    return "" if page.status == 200 else f"status {page.status}"
            except OSError:
                time.sleep(0.5)
        return "the server never answered"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
        if process.returncode not in (0, -15):
            print(output)


def run(command: str, cwd: Path) -> tuple[int, str]:
    """Exit status and stderr of one substituted command."""
    words = shlex.split(command)
    if words[0] == "rnnkit" and words[1] == "serve":
        failure = serve_until_it_answers(command, cwd)
        return (1 if failure else 0), failure
    if words[0] == "rnnkit" and not SHELL & set(words):
        err = io.StringIO()
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            try:
                status = main(words[1:])
            except SystemExit as e:  # argparse's own errors
                status = e.code
        return int(status or 0), err.getvalue()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    return done.returncode, done.stderr


def run_page(page: Path, tmp_path: Path, monkeypatch, *, with_slow: bool) -> list[str]:
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent (the shared data sets sit beside the repository)")
    for name in ("src", "benchmarks"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    ran = []
    for command in plan(shell_commands(page.read_text("utf-8"))):
        if command.skip or (command.slow and not with_slow):
            continue
        status, err = run(command.text, tmp_path)
        tail = "\n".join(err.strip().splitlines()[-5:])
        assert status == 0, f"{page.name} command failed ({status}): {command.text}\n{tail}"
        ran.append(command.text)
    return ran


def test_commands_are_read_and_substituted_by_the_rule():
    commands = shell_commands(README.read_text("utf-8"))
    assert "rnnkit train lm --preset quick --out runs/quick" in commands
    tag = next(c for c in commands if c.startswith("rnnkit train tag"))
    assert tag.endswith("--test $D/en_ewt-ud-test.conllu --out runs/pos")  # joined, no comment
    planned = plan([
        "D=../shared/data/ud-en-ewt", tag, "rnnkit tag --checkpoint runs/pos x",
        "rnnkit train lm --out runs/a", "rnnkit plot gradients --out p/",
        "python x.py --steps 20000", "pip install -e .", "python -m pytest",
    ])  # fmt: skip
    assert [c.slow for c in planned] == [True, True, False, False, False, False, False]
    assert planned[0].text.startswith("rnnkit train tag --preset ud-ewt --train " + str(DATA))
    assert planned[0].text.endswith("--out runs/pos --max-steps 2")
    assert planned[2].text == "rnnkit train lm --out runs/a --max-steps 2"
    assert planned[3].text == "rnnkit plot gradients --out p/ --steps 2"
    assert planned[4].text == "python x.py --steps 20"
    assert [c.skip is not None for c in planned] == [False] * 5 + [True, True]


def test_the_readme_commands_run_in_order(tmp_path, monkeypatch):
    """The default run: every command but the large corpora's and the benchmarks."""
    ran = run_page(README, tmp_path, monkeypatch, with_slow=False)
    assert len(ran) >= 15, ran  # the quick LM, spam, sort, digits, plots, glass box, export...
    for made in ("runs/quick", "runs/spam", "runs/tiny", "curves.png", "lm.html", "lm.onnx"):
        assert (tmp_path / made).exists(), made


def test_the_export_page_commands_run_in_order(tmp_path, monkeypatch):
    ran = run_page(EXPORT, tmp_path, monkeypatch, with_slow=False)
    assert ran == ["rnnkit train lm --preset quick --out runs/lm --max-steps 2",
                   "rnnkit export --checkpoint runs/lm --format onnx --out lm.onnx"]  # fmt: skip
    assert (tmp_path / "lm.onnx").is_file()


@pytest.mark.slow
def test_every_readme_command_runs_in_order(tmp_path, monkeypatch):
    ran = run_page(README, tmp_path, monkeypatch, with_slow=True)
    assert any(c.startswith("rnnkit serve") for c in ran)
    assert (tmp_path / "runs" / "pos" / "config.json").is_file()


@pytest.mark.slow
def test_every_export_page_command_runs_in_order(tmp_path, monkeypatch):
    run_page(EXPORT, tmp_path, monkeypatch, with_slow=True)
    assert (tmp_path / "g2p.encoder.onnx").is_file()
