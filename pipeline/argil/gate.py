"""The rate gate every request of the API client goes through, and what a 429 asks of it.

A gate is shared by every worker: a global 429 pause, a concurrency cap and a pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

import httpx

__all__ = ["Clock", "RateGate", "Sleep", "parse_retry_after"]

logger = logging.getLogger("pipeline.argil.gate")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class RateGate:
    """One gate shared by every worker: a global 429 pause, a concurrency cap and a pace.

    Requests leave one at a time, evenly spaced at ``current_rpm``: a burst would meet a
    server's sliding window as 429s. The spacing is a few lines here rather than aiolimiter,
    which cannot change a limiter's rate in place: swapping in a new limiter let the workers
    waiting on the old one and the first on the new one leave together, and at twice a sliding
    window's limit those small bursts alone turned most quiet stretches into new 429s.

    The rate adapts like TCP (AIMD), with a memory of where the limit lies:

    - each 429 multiplies the rate by ``decrease`` (down to ``min_rpm``), once per burst of
      refusals, and remembers the refused rate as a ceiling. A 429 at a rate above one that
      already held through a quiet stretch falls back to that rate instead of below it: the
      limit lies between the two. A 429 at a rate that held steps down by ``settle`` only.
    - a quiet stretch (at least ``increase_after`` successes and ``increase_every`` seconds
      since the last change or 429) marks the current rate as holding and adds
      ``increase_step``, never past half-way to the ceiling and never past ``rpm * headroom``;
      within ``settle`` (a fraction) of the ceiling it stays put, since a probe that fails
      costs a whole ``Retry-After`` for every worker. The ceiling is forgotten after
      ``forget_after`` seconds without a 429, so a limit that was raised is found again.

    The headroom stays under the configured rate because jitter on the way bunches evenly
    spaced requests at the server.
    """

    def __init__(
        self,
        rpm: float,
        concurrency: int,
        *,
        headroom: float = 0.97,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        min_rpm: float = 1.0,
        decrease: float = 0.7,
        increase_step: float | None = None,
        increase_after: int = 5,
        increase_every: float = 5.0,
        settle: float = 0.05,
        forget_after: float = 300.0,
    ) -> None:
        if not (rpm > 0 and math.isfinite(rpm)):
            raise ValueError("rpm must be a positive number")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be in (0, 1)")
        self.rpm = float(rpm)
        self.concurrency = concurrency
        self.target_rpm = self.rpm * headroom
        self.min_rpm = min(min_rpm, self.target_rpm)
        self.decrease = decrease
        self.increase_step = (
            increase_step if increase_step is not None else max(1.0, self.target_rpm / 20)
        )
        self.increase_after = increase_after
        self.increase_every = increase_every
        self.settle = settle
        self.forget_after = forget_after
        self._clock = clock
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(concurrency)
        self._slot = asyncio.Lock()
        self._last_slot = -math.inf  # event-loop time the last request left
        self._paused_until = -math.inf
        self._last_change = self._quiet_since = clock()
        self._successes = 0
        self._ceiling: float | None = None  # the last rate answered with a 429
        self._ceiling_at = -math.inf
        self._holding: float | None = None  # the highest rate that held through a quiet stretch
        self.current_rpm = self.target_rpm

    @property
    def paused_for(self) -> float:
        """Seconds left in the current global pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        """Every worker waits until now + seconds; an earlier pause end is extended, never cut."""
        if not seconds > 0:
            return
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.debug("rate gate paused for %.2f s", seconds)

    def on_rate_limited(self, sent_at: float | None = None) -> None:
        """Multiplicative decrease. ``sent_at`` (clock time the refused request left the gate)
        lets a burst of 429s to requests sent before the last decrease count once, as TCP
        decreases once per window."""
        now = self._clock()
        self._successes = 0
        self._quiet_since = now
        if sent_at is not None and sent_at < self._last_change:
            return
        rate = self.current_rpm
        self._ceiling, self._ceiling_at = rate, now
        if self._holding is None:
            new_rpm = rate * self.decrease
        elif self._holding < rate:
            # A probe above a rate that held was refused: the limit lies in between.
            new_rpm = max(rate * self.decrease, self._holding)
        else:
            # Refused at a rate that held: a stray 429 (jitter bunched a few requests at the
            # server) or a limit that moved. Step down a little, trusting that rate no more; if
            # the limit did move, the next 429 comes soon and cuts deeper.
            new_rpm = rate * (1 - self.settle)
            self._holding = None
        self._set_rate(max(self.min_rpm, new_rpm), now)

    def on_success(self) -> None:
        """After a quiet stretch: the rate holds; probe a step higher, unless close to the
        ceiling."""
        self._successes += 1
        now = self._clock()
        if self._successes < self.increase_after or now - self._quiet_since < self.increase_every:
            return
        self._successes = 0
        self._quiet_since = now
        rate = self.current_rpm
        self._holding = max(self._holding or 0.0, rate)
        if self._ceiling is not None and now - self._ceiling_at >= self.forget_after:
            self._ceiling = None
        new_rpm = min(self.target_rpm, rate + self.increase_step)
        if self._ceiling is not None:
            if self._ceiling - rate <= rate * self.settle:
                return
            new_rpm = min(new_rpm, (rate + self._ceiling) / 2)
        if new_rpm > rate:
            self._set_rate(new_rpm, now)

    def _set_rate(self, rpm: float, now: float) -> None:
        if rpm != self.current_rpm:
            how = "lowered" if rpm < self.current_rpm else "raised"
            logger.info("rate %s from %.1f to %.1f rpm", how, self.current_rpm, rpm)
        self.current_rpm = rpm
        self._last_change = now

    async def _wait_pause(self) -> None:
        # A loop, because another worker may extend the pause while this one sleeps.
        while (remaining := self._paused_until - self._clock()) > 0:
            await self._sleep(remaining)

    async def _next_slot(self) -> None:
        """Wait for this request's turn: one interval after the previous one left.

        Timed on the event loop's own clock, as a limiter library would; the injected clock and
        sleep serve the 429 pause. One worker at a time waits here, the others on the lock, so
        a rate change applies to the very next request.
        """
        loop = asyncio.get_running_loop()
        async with self._slot:
            while (wait := self._last_slot + 60.0 / self.current_rpm - loop.time()) > 0:
                await asyncio.sleep(wait)
            # Tasks already runnable go first (at the start of a run, every worker journals its
            # row before it reaches the gate): run between this turn and the request's bytes,
            # they would hold it back ~50 ms, and the next request, on time, would meet it
            # inside the server's window.
            await asyncio.sleep(0)
            self._last_slot = loop.time()

    async def __aenter__(self) -> None:
        await self._wait_pause()
        await self._semaphore.acquire()
        try:
            while True:
                await self._wait_pause()
                await self._next_slot()
                # A 429 may have paused everyone while this worker waited for its turn.
                if self._paused_until <= self._clock():
                    return
        except BaseException:
            self._semaphore.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._semaphore.release()


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` as delta seconds
    or as an HTTP date. A date is measured against the answer's own ``Date`` header when there
    is one, so a skewed local clock does not distort it."""
    headers = response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, value) if math.isfinite(value) else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    server_date = headers.get("date")
    if server_date:
        with contextlib.suppress(TypeError, ValueError):
            now = email.utils.parsedate_to_datetime(server_date)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
