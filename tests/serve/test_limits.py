"""The run slots: ``running`` at once, ``waiting`` more in line, the rest refused at once."""

import asyncio
import json
import logging

import pytest

from rnnkit.serve.limits import RunSlots, ServerBusyError

pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
pytest.importorskip("uvicorn", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
from rnnkit.serve.protocol import MESSAGE


def test_slots_run_wait_and_refuse_in_order():
    async def scenario() -> list[str]:
        slots, events = RunSlots(running=1, waiting=1), []
        await slots.acquire()  # the one run
        waiter = asyncio.create_task(slots.acquire())  # waits in line
        await asyncio.sleep(0)
        assert not waiter.done() and slots.admitted == 2
        with pytest.raises(ServerBusyError, match="1 runs in progress and 1 waiting"):
            await slots.acquire()  # no room in line
        events.append("refused")
        slots.release()  # the run ends: the waiter runs
        await asyncio.wait_for(waiter, 1)
        events.append("waiter runs")
        slots.release()
        assert slots.admitted == 0
        return events

    assert asyncio.run(scenario()) == ["refused", "waiter runs"]


def test_a_cancelled_waiter_gives_its_place_back():
    async def scenario() -> int:
        slots = RunSlots(running=1, waiting=1)
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        waiter.cancel()  # the client went away while waiting
        with pytest.raises(asyncio.CancelledError):
            await waiter
        slots.release()
        return slots.admitted

    assert asyncio.run(scenario()) == 0


def test_run_holds_a_slot_in_a_worker_thread():
    async def scenario() -> tuple[int, int]:
        slots = RunSlots(running=2, waiting=0)
        seen = await slots.run(lambda: slots.admitted)
        return seen, slots.admitted

    assert asyncio.run(scenario()) == (1, 0)


# -- bad Unicode, a client that goes away, a body that is not HTTP ---------------------------

HALF = b'"\\ud83d"'  # a JSON escape of half an emoji: json.loads gives a lone surrogate
TEXT_FIELDS = [("/api/generate", "prime"), ("/api/activations", "text"), ("/api/classify", "text"),
               ("/api/tag", "text"), ("/api/translate", "text")]  # fmt: skip


@pytest.fixture(scope="module")
def client(checkpoints):
    from starlette.testclient import TestClient

    from rnnkit.serve import create_app

    with TestClient(create_app(list(checkpoints.values()))) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "field"), TEXT_FIELDS)
def test_half_a_character_is_a_json_400_naming_the_field(client, path, field):
    body = b'{"' + field.encode() + b'": ' + HALF[:-1] + b' ok"}'
    response = client.post(path, content=body)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": f"{field}: not valid Unicode (a lone surrogate U+D83D "
                                        "at character 1: half of a character, or a byte that is "
                                        "not UTF-8)"}  # fmt: skip


@pytest.mark.parametrize(("path", "field"), TEXT_FIELDS)
def test_bytes_that_are_not_utf8_are_a_json_400(client, path, field):
    response = client.post(path, content=b'{"' + field.encode() + b'": "caf\xe9"}')
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


@pytest.fixture
def server(checkpoints, caplog):
    """A real uvicorn server on a free port, in a thread; its log lines in ``caplog``."""
    import threading

    import uvicorn

    from rnnkit.serve import create_app
    from rnnkit.serve.protocol import JsonErrorProtocol

    app = create_app([checkpoints["spam"]])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=JsonErrorProtocol,
                            log_config=None, log_level="warning")  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    caplog.set_level("INFO")
    thread.start()
    deadline = 600  # tenths of a second: a loaded machine may take a while to start it
    while not running.started and deadline and thread.is_alive():
        threading.Event().wait(0.1)
        deadline -= 1
    assert running.started, "the server did not start"
    yield running.servers[0].sockets[0].getsockname()[:2]
    running.should_exit = True
    thread.join(timeout=60)


def exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send raw bytes, then read the answer until the server closes the connection."""
    import socket

    with socket.create_connection(address, timeout=60) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def wait_for(condition, tenths: int = 600) -> None:
    import threading

    while not condition() and tenths:
        threading.Event().wait(0.1)
        tenths -= 1


def test_a_bad_chunked_body_gets_a_json_400(server):
    head = b"POST /api/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = exchange(server, head + b"zz\r\nnot a chunk size\r\n")
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/json" in status.lower(), answer
    assert json.loads(body) == {"error": MESSAGE}


def test_a_bad_request_line_gets_a_json_400(server):
    answer = exchange(server, b"NOT HTTP AT ALL\r\n\r\n")
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400 ") and json.loads(body) == {"error": MESSAGE}


def test_a_client_gone_mid_body_is_one_log_line(server, caplog):
    import socket

    with socket.create_connection(server, timeout=60) as s:
        s.sendall(b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n" + b'{"text": "free')  # fmt: skip
    wait_for(lambda: any("went away" in r.getMessage() for r in caplog.records))
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "went away before sending the whole request body" in lines[0]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text and "Exception in ASGI" not in caplog.text
