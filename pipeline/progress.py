"""What a progress display needs to tell the truth: the request rate as measured, and where
the run is (sending rows, or waiting for renders).

The rate shown is the one the API actually sees (requests counted over the last minute), not
the gate's target: a run held back by 429s, a slow server or a small concurrency must show it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

SENDING = "sending"
WAITING = "waiting"

RATE_WINDOW = 60.0


@dataclass(frozen=True)
class Progress:
    """A snapshot for the display. ``total``/``finished``/``failed`` count rows while sending;
    while waiting, ``renders_done`` of ``renders_total`` videos are final."""

    total: int
    finished: int
    failed: int
    requests: int
    rpm: float  # measured over the last minute (or since the start, when shorter)
    phase: str = SENDING
    renders_done: int = 0
    renders_total: int = 0


class RateMeter:
    """Requests a minute, from (time, requests so far) samples over a sliding window."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, now: float, requests: int) -> float:
        samples = self._samples
        samples.append((now, requests))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        then, before = samples[0]
        span = now - then
        # Under a second of history says nothing yet.
        return 0.0 if span < 1.0 else (requests - before) * 60.0 / span
