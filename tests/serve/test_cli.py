"""``rnnkit serve``'s start-up errors: one line on stderr and exit status 2, before listening."""

import socket
import sys

import pytest

from rnnkit.cli import main

pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
pytest.importorskip("uvicorn", reason="pip install 'rnnkit[serve]' to test rnnkit serve")


def one_line_error(capsys, argv: list[str], *needles: str) -> None:
    """Run the command in this process: status 2, one stderr line holding every needle."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_directory_that_fails_to_load_is_reported_at_start(capsys, checkpoints, tmp_path):
    argv = ["serve", "--checkpoint", str(checkpoints["lm"]), str(tmp_path / "nope")]
    one_line_error(capsys, argv, "nope")


def test_a_model_without_a_view_is_reported_at_start(capsys, tmp_path):
    (tmp_path / "adding").mkdir()
    (tmp_path / "adding" / "config.json").write_text('{"format": "rnnkit.long_range/1"}')
    argv = ["serve", "--checkpoint", str(tmp_path / "adding")]
    one_line_error(capsys, argv, "adding", "has no page; serve takes: language_model")


def test_a_taken_port_is_one_line(capsys, checkpoints):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = ["serve", "--checkpoint", str(checkpoints["lm"]), "--port", port]
        one_line_error(capsys, argv, f"--port {port}: cannot listen there")


def test_without_the_extra_it_says_how_to_install_it(capsys, checkpoints, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    one_line_error(capsys, ["serve", "--checkpoint", str(checkpoints["lm"])],
                   "pip install 'rnnkit[serve]'")  # fmt: skip


@pytest.mark.parametrize("option", [["--max-beam", "0"], ["--port", "70000"]])
def test_bad_limits_are_refused_by_the_parser(capsys, checkpoints, option):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--checkpoint", str(checkpoints["lm"]), *option])
    assert exit_info.value.code == 2
    assert option[0] in capsys.readouterr().err
