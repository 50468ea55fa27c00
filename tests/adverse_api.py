"""An Argil-like ``POST /videos`` on virtual time with the world's adversity: the emulator's own
rate limits (``pipeline.emulator.ratelimit``: sliding or fixed windows, announced or not), latency
and jitter spent before the request is counted, and a client run through it as a batch is."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
from virtual_time import VirtualTimeLoop, run_virtual

from pipeline.argil.client import ArgilClient
from pipeline.emulator.ratelimit import (
    Budget,
    Limiter,
    WindowKind,
    announce_headers,
    retry_after_headers,
)


@dataclass
class AdverseApi:
    loop: VirtualTimeLoop
    budget: Budget
    latency: float = 0.1  # before the count
    jitter: float = 0.05  # uniform +- on latency
    retry_after: str = "seconds"
    announce: bool = False
    seed: int = 1
    created: list[float] = field(default_factory=list)
    refused: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._limiter = Limiter(self.budget)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(max(0.0, self.latency + self._rng.uniform(-self.jitter, self.jitter)))
        now = self.loop.time()
        self.requests += 1
        verdict = self._limiter.take("key", now)
        headers = announce_headers(self.budget, verdict) if self.announce else {}
        if not verdict.allowed:
            self.refused += 1
            headers.update(retry_after_headers(self.retry_after, verdict.reset))
            return httpx.Response(429, json={"message": "Too many requests"}, headers=headers)
        self.created.append(now)
        video = {"id": f"v{len(self.created)}", "name": "n", "status": "IDLE"}
        return httpx.Response(201, json=video, headers=headers)

    @property
    def rate(self) -> float:
        return self.budget.limit / self.budget.window

    def efficiency(self) -> float:
        """The ideal time for the videos made over the time they took: (N-1)/R over the span."""
        span = self.created[-1] - self.created[0]
        return (len(self.created) - 1) / self.rate / span


@dataclass
class Paced:
    api: AdverseApi
    made: int
    client: ArgilClient

    @property
    def share_429(self) -> float:
        return self.api.refused / max(1, self.api.requests)


def pace(
    *,
    rows: int = 300,
    rate: float = 10.0,
    window_requests: int = 60,
    kind: WindowKind = "sliding",
    rpm: float | str | None = None,
    rpm_factor: float = 1.0,
    concurrency: int = 4,
    latency: float = 0.1,
    jitter: float | None = None,
    retry_after: str = "seconds",
    announce: bool = False,
    seed: int = 1,
    **client: Any,
) -> Paced:
    """``rows`` creates through one client by twice ``concurrency`` workers, as a run sends them,
    against ``rate`` requests a second counted in a window of ``window_requests`` requests."""
    budget = Budget("writes", window_requests, window_requests / rate, kind)

    async def main(loop: VirtualTimeLoop) -> Paced:
        api = AdverseApi(
            loop,
            budget,
            latency=latency,
            jitter=latency / 2 if jitter is None else jitter,
            retry_after=retry_after,
            announce=announce,
            seed=seed,
        )
        argil = ArgilClient(
            "sk-test",
            "https://api.test/v1",
            rpm=rpm if rpm is not None else rate * 60 * rpm_factor,  # type: ignore[arg-type]
            concurrency=concurrency,
            transport=httpx.MockTransport(api),
            clock=loop.time,
            max_attempts=20,
            **client,
        )
        queue = list(range(rows))
        made = 0

        async def worker() -> None:
            nonlocal made
            while queue:
                queue.pop()
                await argil.create_video({"name": "x"})
                made += 1

        async with argil:
            await asyncio.gather(*(worker() for _ in range(2 * concurrency)))
        return Paced(api, made, argil)

    return run_virtual(main)


def ceiling(window_requests: int, rate: float, spread: float) -> float:
    """W / (W + L): the share of the limit jittered arrivals fit without a 429."""
    window = window_requests / rate
    return window / (window + spread) if math.isfinite(window) else 1.0
