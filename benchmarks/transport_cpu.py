"""CPU per request of each HTTP layer, requests spaced as at a rate limit: ``run.py`` starts it.

    python benchmarks/transport_cpu.py BASE_URL COUNT GAP_SECONDS

Sends COUNT ``GET /avatars`` one after the other, GAP_SECONDS apart, three ways: through an
``httpx.AsyncClient`` on httpx's default transport (httpcore, h11); through the same client on
``LeanTransport``; and straight to ``LeanTransport``, as ``ArgilClient`` does. Prints one JSON
object: process CPU milliseconds per request for each. Spaced requests are what a run at an
API's limit makes, and they cost more than back-to-back ones (every request wakes an idle
process), so that is what is measured. The API must run in another process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx

from pipeline.argil.transport import LeanTransport

HEADERS = {"x-api-key": "benchmark-key"}


async def through_client(
    base_url: str, count: int, gap: float, transport: httpx.AsyncBaseTransport | None
) -> float:
    async with httpx.AsyncClient(
        base_url=base_url + "/", headers=HEADERS, transport=transport
    ) as client:
        (await client.get("avatars")).raise_for_status()  # connected and warm
        started = time.process_time()
        for _ in range(count):
            (await client.get("avatars")).raise_for_status()
            await asyncio.sleep(gap)
        return (time.process_time() - started) / count


async def straight(base_url: str, count: int, gap: float) -> float:
    transport = LeanTransport()
    url = httpx.URL(base_url + "/avatars")

    async def get() -> None:
        request = httpx.Request("GET", url, headers=HEADERS)
        (await transport.handle_async_request(request)).raise_for_status()

    try:
        await get()
        started = time.process_time()
        for _ in range(count):
            await get()
            await asyncio.sleep(gap)
        return (time.process_time() - started) / count
    finally:
        await transport.aclose()


def main() -> None:
    base_url, count, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    result = {
        "httpx_default_ms": asyncio.run(through_client(base_url, count, gap, None)) * 1000,
        "client_lean_ms": asyncio.run(through_client(base_url, count, gap, LeanTransport())) * 1000,
        "lean_ms": asyncio.run(straight(base_url, count, gap)) * 1000,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
