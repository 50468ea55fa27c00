"""Progress that tells the truth: the request rate as measured, and where the run is (sending
rows, or waiting for renders); and the command line's display of it.

The rate shown is the one the API actually sees (requests counted over the last minute), not
the gate's target: a run held back by 429s, a slow server or a small concurrency must show it.
The library only builds :class:`Progress` snapshots; :func:`progress_display` is the command
line's, and writes to the terminal (rich) or through the ``emit`` it is given.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.wording import plural

SENDING = "sending"
WAITING = "waiting"
DOWNLOADING = "downloading"  # the finished videos' files (--download)
# Before the first row is counted: the batch listed on the API, then the pre-flight.
LISTING = "listing"
CHECKING = "checking"
PREPARING = {
    LISTING: "listing the batch's videos on the API",
    CHECKING: "checking avatars, voices, gestures and styles",
}

RATE_WINDOW = 60.0


@dataclass(frozen=True)
class Progress:
    """A snapshot for the display. ``total``/``finished``/``failed`` count rows while sending;
    while waiting, ``renders_done`` of ``renders_total`` videos are final; while downloading,
    as many of their files are saved."""

    total: int
    finished: int
    failed: int
    requests: int
    rpm: float  # measured over the last minute (or since the start, when shorter)
    phase: str = SENDING
    renders_done: int = 0
    renders_total: int = 0
    # Seconds the API asked the run to wait still to go (a 429's Retry-After): a bar that
    # stands still says why.
    paused: float = 0.0

    def pause_note(self) -> str:
        if self.paused < 1.0:
            return ""
        return f"paused {self.paused:.0f} s: the API asked to wait (rate limit)"


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


PROGRESS_LINE_SECONDS = 10.0


@contextmanager
def progress_display(
    enabled: bool, quiet: bool, emit: Callable[[str], None]
) -> Iterator[Callable[[Progress], None] | None]:
    """The command line's display: a rich bar on a terminal, else a plain line (through
    ``emit``) every 10 s in every phase (cron logs). ``quiet``: no bar (``--json``)."""
    if not enabled:
        yield None
        return
    if sys.stderr.isatty() and not quiet:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        bar = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            TextColumn("{task.fields[rpm]:.0f} req/min"),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("[yellow]{task.fields[pause]}"),
            transient=True,
        )
        task = bar.add_task("rows", total=None, failed=0, rpm=0.0, pause="")

        def update_bar(p: Progress) -> None:
            if p.phase == WAITING:
                done, total, what = p.renders_done, p.renders_total, "renders"
            elif p.phase == DOWNLOADING:
                done, total, what = p.renders_done, p.renders_total, "files"
            else:
                done, total, what = p.finished, p.total, "rows"
            # Started once there is something to count, not before: the listing, the cost
            # line and its question come first, and a live bar would draw over them.
            if not bar.live.is_started:
                if not total or p.phase in PREPARING:
                    return
                bar.start()
            bar.update(
                task,
                description=what,
                total=total,
                completed=done,
                failed=p.failed,
                rpm=p.rpm,
                pause=p.pause_note(),
            )

        try:
            yield update_bar
        finally:
            if bar.live.is_started:
                bar.stop()
        return
    last = [time.monotonic()]
    said: set[tuple[str, int]] = set()

    def log_line(p: Progress) -> None:
        now = time.monotonic()
        done, total = (
            (p.renders_done, p.renders_total)
            if p.phase in (WAITING, DOWNLOADING)
            else (p.finished, p.total)
        )
        # A rate is shown once there is one to measure.
        rate = plural(p.requests, "request") + (f", {p.rpm:.0f} req/min" if p.rpm else "")
        if p.pause_note():
            rate += f"; {p.pause_note()}"
        if p.phase in PREPARING or not total:
            # Nothing to count yet (the total is not known): a long start says what it does,
            # every 10 seconds, and never reads as a phase's end.
            if p.phase in PREPARING and now - last[0] >= PROGRESS_LINE_SECONDS:
                last[0] = now
                emit(f"progress: {PREPARING[p.phase]} ({rate})")
            return
        # A phase's end is said once, at once; otherwise one line every 10 seconds.
        ended = done == total and (p.phase, total) not in said
        if now - last[0] < PROGRESS_LINE_SECONDS and not ended:
            return
        last[0] = now
        if ended:
            said.add((p.phase, total))
        if p.phase == WAITING:
            emit(f"progress: waiting for renders: {done}/{total} done ({rate})")
        elif p.phase == DOWNLOADING:
            emit(f"progress: downloading: {done}/{plural(total, 'file')}")
        else:
            emit(f"progress: {done}/{plural(total, 'row')}, {p.failed} failed ({rate})")

    yield log_line
