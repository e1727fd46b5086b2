"""A real ``rnnkit serve`` process for the browser tests."""

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli_helpers import command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(checkpoints, log: Path) -> Iterator[str]:
    """``rnnkit serve --checkpoint ...`` in a real process on a free port, its output in
    ``log``; yields its URL once ``/api/models`` answers, and stops it after."""
    port = free_port()
    argv, env = command("serve", "--checkpoint", *checkpoints, "--port", port)
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/models", timeout=2).read()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
