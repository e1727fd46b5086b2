"""The run slots: ``running`` at once, ``waiting`` more in line, the rest refused at once."""

import asyncio

import pytest

from rnnkit.serve.limits import RunSlots, ServerBusyError

pytest.importorskip("starlette", reason="pip install 'rnnkit[serve]' to test rnnkit serve")
pytest.importorskip("uvicorn", reason="pip install 'rnnkit[serve]' to test rnnkit serve")


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
