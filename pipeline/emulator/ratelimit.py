"""The emulator's rate limits: per-key budgets counted in sliding or fixed windows, and the
headers that announce them (or only say when to come back).

Hand-written, not a limiter library: this IS the server a client's pacing is measured against,
so its exact arithmetic must be visible and deterministic. Tests pace against the same classes on
a virtual clock, so the tests and the emulator meet the same server.

A budget allows ``limit`` requests per ``window`` seconds per API key:

- ``sliding``: at most ``limit`` requests in any rolling ``window`` seconds (a log of arrivals);
- ``fixed``: at most ``limit`` requests per window of clock time (``[k*W, (k+1)*W)``), so a
  client may send ``limit`` at the end of one window and ``limit`` again at the start of the
  next, and a client paced evenly still meets a fresh count at every boundary.

Announced (``ratelimit_headers``), every answer carries both the IETF draft's fields and the
older de-facto ones::

    RateLimit-Policy: "writes";q=60;w=60      quota of 60 requests per 60 s
    RateLimit: "writes";r=12;t=30             12 left, the quota resets in 30 s
    X-RateLimit-Limit: 60
    X-RateLimit-Remaining: 12
    X-RateLimit-Reset: 30                     seconds, as the IETF draft's t
"""

from __future__ import annotations

import collections
import email.utils
import math
import time
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "RETRY_AFTER_FORMS",
    "WINDOW_KINDS",
    "Budget",
    "Limiter",
    "Verdict",
    "announce_headers",
    "retry_after_headers",
]

RETRY_AFTER_FORMS: Final = ("seconds", "date", "ms", "none")
WINDOW_KINDS: Final = ("sliding", "fixed")
WindowKind = Literal["sliding", "fixed"]


@dataclass(frozen=True)
class Budget:
    name: str  # as announced in the headers
    limit: int  # requests per window (at least 1)
    window: float  # seconds
    kind: WindowKind = "sliding"

    @classmethod
    def per_minute(
        cls, name: str, rpm: float, window: float, kind: WindowKind = "sliding"
    ) -> Budget:
        """``rpm`` requests a minute, counted in windows of ``window`` seconds."""
        # The epsilon keeps e.g. 600 * 1 / 60 from flooring to 9 through float error.
        return cls(name, max(1, math.floor(rpm * window / 60.0 + 1e-9)), window, kind)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int  # requests left in the window after this one
    reset: float  # seconds until the window frees a request (sliding) or starts anew (fixed)


class Limiter:
    """One budget, counted per key. Not thread-safe: the emulator holds its lock around it."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._logs: dict[str, collections.deque[float]] = {}  # sliding
        self._counts: dict[str, tuple[int, int]] = {}  # fixed: key -> (window index, count)

    def take(self, key: str, now: float) -> Verdict:
        """Count one request of ``key`` arriving at ``now``, or refuse it."""
        if self.budget.kind == "fixed":
            return self._take_fixed(key, now)
        return self._take_sliding(key, now)

    def _take_sliding(self, key: str, now: float) -> Verdict:
        limit, window = self.budget.limit, self.budget.window
        log = self._logs.setdefault(key, collections.deque())
        while log and log[0] <= now - window:
            log.popleft()
        if len(log) >= limit:
            return Verdict(False, 0, log[0] + window - now)
        log.append(now)
        return Verdict(True, limit - len(log), log[0] + window - now)

    def _take_fixed(self, key: str, now: float) -> Verdict:
        limit, window = self.budget.limit, self.budget.window
        index = math.floor(now / window)
        reset = (index + 1) * window - now
        current, count = self._counts.get(key, (index, 0))
        if current != index:
            count = 0
        if count >= limit:
            return Verdict(False, 0, reset)
        self._counts[key] = (index, count + 1)
        return Verdict(True, limit - count - 1, reset)


def _seconds(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.3f}".rstrip("0")


def announce_headers(budget: Budget, verdict: Verdict) -> dict[str, str]:
    """The policy and what is left of it, in the IETF draft's fields and the older ones."""
    reset = str(max(0, math.ceil(verdict.reset)))
    return {
        "RateLimit-Policy": f'"{budget.name}";q={budget.limit};w={_seconds(budget.window)}',
        "RateLimit": f'"{budget.name}";r={verdict.remaining};t={reset}',
        "X-RateLimit-Limit": str(budget.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": reset,
    }


def retry_after_headers(form: str, wait: float) -> dict[str, str]:
    """When to come back, in one of :data:`RETRY_AFTER_FORMS`; whole units rounded up, so a
    client that obeys never comes back early."""
    if form == "seconds":
        return {"Retry-After": str(max(1, math.ceil(wait)))}
    if form == "date":
        return {"Retry-After": email.utils.formatdate(math.ceil(time.time() + wait), usegmt=True)}
    if form == "ms":
        return {"retry-after-ms": str(max(1, math.ceil(wait * 1000)))}
    return {}
