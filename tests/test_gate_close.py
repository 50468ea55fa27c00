"""A stopping run closes the write gate: what waits for its turn leaves unsent, at once.

The waits here are long on purpose (a turn every 10 s, a 30 s pause): were the gate's naps not
cut short by the close, each test would hang on them, and ``wait_for`` would fail it.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pipeline.argil.client import ArgilClient, NotSent
from pipeline.argil.gate import GateClosed, RateGate

VIDEO = {"id": "vid-1", "name": "v", "status": "IDLE"}


async def _turn(gate: RateGate) -> int:
    async with gate as seq:
        return seq


def test_closing_the_gate_sends_the_waiters_away_unsent() -> None:
    async def go() -> None:
        gate = RateGate(6, 4)  # one request every 10 s
        assert await _turn(gate) == 1  # the first leaves at once
        waiters = [asyncio.create_task(_turn(gate)) for _ in range(3)]
        await asyncio.sleep(0.01)  # every waiter is now at the gate, for 10 s or more
        assert not any(w.done() for w in waiters)
        gate.close()
        results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 2)
        assert [type(r) for r in results] == [GateClosed] * 3
        assert gate.closed and gate.sent == 1
        with pytest.raises(GateClosed):  # and nothing after the close either
            await asyncio.wait_for(_turn(gate), 2)

    asyncio.run(go())


def test_closing_cuts_a_429_pause_short() -> None:
    async def go() -> None:
        gate = RateGate(600, 2)
        gate.pause(30.0)
        waiter = asyncio.create_task(_turn(gate))
        await asyncio.sleep(0.01)
        gate.close()
        with pytest.raises(GateClosed):
            await asyncio.wait_for(waiter, 2)
        assert gate.sent == 0

    asyncio.run(go())


def test_a_create_waiting_at_a_closed_gate_is_not_sent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(201, json=VIDEO)

    async def go() -> None:
        client = ArgilClient(
            "k", "https://api.example.test/v1", rpm=6, transport=httpx.MockTransport(handler)
        )
        async with client:
            await client.create_video({"name": "first"})
            second = asyncio.create_task(client.create_video({"name": "second"}))
            await asyncio.sleep(0.01)
            client.gate.close()
            with pytest.raises(NotSent) as refused:
                await asyncio.wait_for(second, 2)
            assert refused.value.message == "POST /videos was not sent: the run is stopping"
            # Reads go on: a stopping run still looks up what it may have sent.
            await client.get_video("vid-1")

    asyncio.run(go())
    assert seen == ["/v1/videos", "/v1/videos/vid-1"]
