"""The rate gates of ``ArgilClient``: reads apart from writes, announced limits, ``--rpm auto``
and how a 429 is taken, on a fake or a virtual clock (nothing sleeps)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_client import VIDEO, FakeTime, make_client

from pipeline.argil.client import RateLimited


def test_a_429_to_a_read_pauses_and_slows_the_reads_only() -> None:
    ft = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(429, json={}, headers={"Retry-After": "5"})
        return httpx.Response(201, json=VIDEO)

    async def go() -> None:
        async with make_client(handler, ft, rpm=60, read_rpm=600, max_attempts=1) as client:
            assert client.read_gate is not client.gate
            write_rpm, read_rpm = client.gate.current_rpm, client.read_gate.current_rpm
            with pytest.raises(RateLimited):
                await client.get_video("v")
            assert client.read_gate.paused_for == 5 and client.read_gate.current_rpm < read_rpm
            assert client.gate.paused_for == 0 and client.gate.current_rpm == write_rpm
            await client.create_video({"name": "x"})

    asyncio.run(go())
    assert ft.waits() == [], "the create did not wait out the reads' pause"


def test_reads_are_paced_at_the_read_rate_and_writes_at_theirs() -> None:
    async def go() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        times: dict[str, list[float]] = {"GET": [], "POST": []}

        def handler(request: httpx.Request) -> httpx.Response:
            times[request.method].append(loop.time())
            return httpx.Response(201 if request.method == "POST" else 200, json=VIDEO)

        async with make_client(handler, rpm=600, read_rpm=6000, concurrency=8) as client:
            await asyncio.gather(
                *(client.get_video(str(n)) for n in range(6)),
                *(client.create_video({"name": "x"}) for _ in range(3)),
            )
        return times["GET"][-1] - times["GET"][0], times["POST"][-1] - times["POST"][0]

    reads, writes = asyncio.run(go())
    # Five intervals of 10 ms (reads), two of 100 ms (writes), less the headroom; the reads
    # did not queue behind the writes.
    assert 0.04 < reads < 0.1
    assert writes >= 2 * 0.1 * 0.9
