"""An asyncio event loop on virtual time, and a sliding-window API to pace against.

Whenever the loop would wait (for a timer, a sleep, a 429 pause), its clock jumps ahead instead:
a minute of pacing runs in milliseconds and gives the same answer on every run. Real sockets
still work, but nothing real may be awaited that has no timer behind it (the loop would spin), so
servers go through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

# What one turn of a real loop costs at least; also lets a timer that keeps re-arming itself at
# "now" (float rounding in a limiter) see time pass, as it would on a real clock.
_TURN = 1e-6


class _Selector(selectors.BaseSelector):
    def __init__(self, loop: VirtualTimeLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if not ready:
            if timeout is None:
                raise RuntimeError("virtual time: every task waits and no timer is set")
            self._loop.now += max(timeout, _TURN)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _Selector(self, self._selector)  # type: ignore[has-type]

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[VirtualTimeLoop], Awaitable[T]]) -> T:
    """Run ``main(loop)`` to its end on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


class SlidingWindowApi:
    """``POST /videos`` behind a per-key limit of ``limit`` requests in any ``window`` seconds,
    answering 429 with ``Retry-After`` in whole seconds (or ``retry-after-ms``) like the emulator,
    after ``latency`` ± ``jitter`` seconds. Records when each request arrived and each video was
    made."""

    def __init__(
        self,
        loop: VirtualTimeLoop,
        *,
        limit: int,
        window: float = 1.0,
        latency: float = 0.1,
        jitter: float = 0.05,
        retry_after: str = "seconds",
        seed: int = 1,
    ) -> None:
        self.loop = loop
        self.limit = limit
        self.window = window
        self.latency = latency
        self.jitter = jitter
        self.retry_after = retry_after
        self._rng = random.Random(seed)
        self._log: collections.deque[float] = collections.deque()
        self.arrivals: list[float] = []
        self.created: list[float] = []
        self.refused = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.loop.time()
        self.arrivals.append(now)
        while self._log and self._log[0] <= now - self.window:
            self._log.popleft()
        if len(self._log) >= self.limit:
            self.refused += 1
            wait = self._log[0] + self.window - now
            if self.retry_after == "seconds":
                headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            else:
                headers = {"retry-after-ms": str(max(1, math.ceil(wait * 1000)))}
            response = httpx.Response(429, json={"message": "Too many requests"}, headers=headers)
        else:
            self._log.append(now)
            self.created.append(now)
            video = {"id": f"v{len(self.created)}", "name": "n", "status": "IDLE"}
            response = httpx.Response(201, json=video)
        await asyncio.sleep(max(0.0, self.latency + self._rng.uniform(-self.jitter, self.jitter)))
        return response

    def efficiency(self) -> float:
        """The ideal time for the videos made over the time they took: (N-1)/R over the span."""
        span = self.created[-1] - self.created[0]
        return (len(self.created) - 1) / (self.limit / self.window) / span
