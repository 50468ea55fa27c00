"""Ctrl-C and SIGTERM during a run: the first stops sending and lets the output be written,
a second abandons the requests in flight (the journal holds their rows in flight, and the next
run looks them up). Nothing reaches the user as a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# After a first Ctrl-C, requests already out get this long to finish before they are
# abandoned: a create waiting out a long Retry-After must not hold the user's terminal.
INTERRUPT_GRACE = 3.0


async def settled(work: asyncio.Future[T], abandon: Callable[[], T]) -> T:
    """What ``work`` answers, or, when an interrupt cancelled it mid-request, what ``abandon``
    says of what it had settled (rows it held are then in flight in the journal, as after a
    crash)."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            work.cancel()
            raise
        return abandon()


def install_signal_handlers(
    stop: Callable[[str], None], work: asyncio.Future[T], received: list[int]
) -> None:
    """First Ctrl-C (or SIGTERM from a scheduler): send nothing new, cut every wait short,
    give requests in flight a few seconds and write the output. A second one abandons the
    requests at once; in-flight rows are then resolved by the next run's lookup, so nothing is
    lost either way. Only the work is cancelled, never the run itself: the output is always
    written, and no cancellation reaches the user as a traceback. ``received`` collects the
    signals (a run's two halves share it: a Ctrl-C in the first counts in the second)."""
    loop = asyncio.get_running_loop()

    def handle(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            stop("interrupted")
            loop.call_later(INTERRUPT_GRACE, work.cancel)
        else:
            work.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handle, signum)


def remove_signal_handlers() -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signum)
